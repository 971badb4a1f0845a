// Package httplog keeps what the servers (oip, reasoning/chatserver) log of
// each request: the reply's status and the attributes its handler adds.
package httplog

import (
	"log/slog"
	"net/http"
)

// Recorder wraps a ResponseWriter for one request. It unwraps for
// http.ResponseController.
type Recorder struct {
	http.ResponseWriter
	Status int         // 0 until a reply is written: none, as to a client gone
	Attrs  []slog.Attr // added by the handler through Annotate
}

func (r *Recorder) WriteHeader(code int) {
	if r.Status == 0 {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Annotate adds attrs to the request's log record, if w is a Recorder.
func Annotate(w http.ResponseWriter, attrs ...slog.Attr) {
	if rec, ok := w.(*Recorder); ok {
		rec.Attrs = append(rec.Attrs, attrs...)
	}
}
