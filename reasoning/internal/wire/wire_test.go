package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/implicitlab/implicit/reasoning"
)

func TestReplyLimit(t *testing.T) {
	// A body of exactly the limit is read whole; one byte more is not.
	for _, tc := range []struct {
		body string
		over bool
	}{{"12345", false}, {"123456", true}, {"", false}} {
		r := &Reply{Limit: 5}
		b, err := io.ReadAll(r.Body(io.NopCloser(iotest.OneByteReader(strings.NewReader(tc.body)))))
		if tc.over != errors.Is(err, reasoning.ErrReplyTooLarge) || tc.over != (r.TooLarge("b", "u") != nil) || len(b) > 5 {
			t.Errorf("%q: read %q, %v; TooLarge %v", tc.body, b, err, r.TooLarge("b", "u"))
		}
		if !tc.over && (!r.Ended() || string(b) != tc.body) {
			t.Errorf("%q: read %q, ended %v", tc.body, b, r.Ended())
		}
	}
	r := &Reply{}
	if b, err := io.ReadAll(r.Body(io.NopCloser(strings.NewReader(strings.Repeat("x", 1<<20))))); err != nil || len(b) != 1<<20 {
		t.Errorf("no limit: %d bytes, %v", len(b), err)
	}
}

func TestReplyLines(t *testing.T) {
	r := &Reply{}
	body := "data: {\"choices\":[]}\n\n" + "data: " + `{"error":"context overflow"}` + "\n\n" + `{"error":"second"}` + "\n" + strings.Repeat("y", 9000)
	if _, err := io.ReadAll(r.Body(io.NopCloser(iotest.HalfReader(strings.NewReader(body))))); err != nil {
		t.Fatal(err)
	}
	if got := string(r.ErrorLine()); got != `{"error":"context overflow"}` {
		t.Errorf("error line %q", got)
	}
	if r.Longest() != 9000 {
		t.Errorf("longest line %d, want 9000", r.Longest())
	}
	if (&Reply{}).ErrorLine() != nil {
		t.Errorf("an error line where none was read")
	}
}

func TestBytesAndClip(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if s := strings.Repeat("x", 1000); Clip(s) != s {
		t.Errorf("a message of 1000 bytes clipped")
	}
	got := Clip(strings.Repeat("x", 999) + "é")
	if !strings.HasPrefix(got, strings.Repeat("x", 999)+"…") || !strings.Contains(got, "1001 bytes in all") {
		t.Errorf("Clip cut a character in two: %q", got[990:])
	}
}
