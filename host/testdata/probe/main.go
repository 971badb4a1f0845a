// Command probe reports what a WebAssembly guest can reach of its host: it
// is built for GOOS=wasip1 by TestSandbox in package host and run with the
// module configuration the host gives its instances. Each line is
// "what: ok" or "what: denied: why".
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	report("read /", func() error { _, err := os.ReadDir("/"); return err })
	report("read .", func() error { _, err := os.ReadDir("."); return err })
	report("open "+os.Args[len(os.Args)-1], func() error {
		f, err := os.Open(os.Args[len(os.Args)-1])
		if err == nil {
			f.Close()
		}
		return err
	})
	report("create /probe", func() error { return os.WriteFile("/probe", []byte("x"), 0o644) })
	report("environment", func() error {
		if env := os.Environ(); len(env) > 0 {
			return nil
		}
		return fmt.Errorf("empty")
	})
	report("dial", func() error {
		addr := os.Getenv("PROBE_ADDR")
		if addr == "" {
			addr = "127.0.0.1:1"
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	report("accept", accept)
}

// accept takes a connection on a socket the host opened for the guest, and
// writes to it: wasip1 has no other way to the network (such sockets follow
// the preopened directories among the file descriptors).
func accept() error {
	for fd := uintptr(3); fd < 16; fd++ {
		l, err := net.FileListener(os.NewFile(fd, "socket"))
		if err != nil {
			continue
		}
		c, err := l.Accept()
		if err != nil {
			return err
		}
		_, err = c.Write([]byte("probe"))
		c.Close()
		return err
	}
	return fmt.Errorf("no socket")
}

func report(what string, try func() error) {
	if err := try(); err != nil {
		fmt.Printf("%s: denied: %s\n", what, strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	fmt.Printf("%s: ok\n", what)
}
