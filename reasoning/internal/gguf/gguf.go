// Package gguf writes GGUF files (version 3), the model format of ggml,
// llama.cpp and Ollama: typed metadata followed by aligned tensor data.
//
// It writes only what the project's test models need: scalar and array
// metadata and float32 tensors.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// alignment is GGUF's default tensor data alignment; we never change it.
const alignment = 32

// value types from the GGUF specification.
const (
	typeUint32  uint32 = 4
	typeInt32   uint32 = 5
	typeFloat32 uint32 = 6
	typeBool    uint32 = 7
	typeString  uint32 = 8
	typeArray   uint32 = 9
)

// ggmlTypeF32 is ggml's tensor type for float32.
const ggmlTypeF32 uint32 = 0

// KV is one metadata entry. Value is a uint32, int32, float32, bool, string,
// []string, []float32 or []int32.
type KV struct {
	Key   string
	Value any
}

// Tensor is a float32 tensor. Shape lists ggml's ne: Shape[0] is the length
// of a row, the fastest-varying dimension; Data holds the rows in order.
type Tensor struct {
	Name  string
	Shape []uint64
	Data  []float32
}

// File is a GGUF file's content. Metadata is written in order.
type File struct {
	KV      []KV
	Tensors []Tensor
}

// WriteTo writes f in GGUF form.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	cw := &countingWriter{w: bufio.NewWriter(w)}
	e := encoder{w: cw}
	e.u32(0x46554747) // "GGUF", little-endian
	e.u32(3)
	e.u64(uint64(len(f.Tensors)))
	e.u64(uint64(len(f.KV)))
	for _, kv := range f.KV {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	var offset uint64
	for _, t := range f.Tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(d)
		}
		e.u32(ggmlTypeF32)
		e.u64(offset)
		offset += pad(uint64(len(t.Data)) * 4)
	}
	e.zeros(pad(cw.n) - cw.n)
	for _, t := range f.Tensors {
		for _, x := range t.Data {
			e.u32(math.Float32bits(x))
		}
		e.zeros(pad(cw.n) - cw.n)
	}
	if e.err == nil {
		e.err = cw.w.(*bufio.Writer).Flush()
	}
	return int64(cw.n), e.err
}

// WriteFile writes f to path atomically: to a temporary file in the same
// folder, renamed into place once complete.
func (f *File) WriteFile(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gguf-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = f.WriteTo(tmp); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	// CreateTemp makes the file private; a model file is ordinary data.
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (f *File) validate() error {
	keys := make(map[string]bool)
	for _, kv := range f.KV {
		if keys[kv.Key] {
			return fmt.Errorf("gguf: duplicate key %q", kv.Key)
		}
		keys[kv.Key] = true
		switch kv.Value.(type) {
		case uint32, int32, float32, bool, string, []string, []float32, []int32:
		default:
			return fmt.Errorf("gguf: key %q: unsupported value type %T", kv.Key, kv.Value)
		}
	}
	names := make(map[string]bool)
	for _, t := range f.Tensors {
		if names[t.Name] {
			return fmt.Errorf("gguf: duplicate tensor %q", t.Name)
		}
		names[t.Name] = true
		n := uint64(1)
		for _, d := range t.Shape {
			n *= d
		}
		if len(t.Shape) == 0 || n != uint64(len(t.Data)) {
			return fmt.Errorf("gguf: tensor %q: shape %v does not hold %d values", t.Name, t.Shape, len(t.Data))
		}
	}
	return nil
}

func pad(n uint64) uint64 { return (n + alignment - 1) / alignment * alignment }

type countingWriter struct {
	w io.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// encoder writes little-endian values and keeps the first error.
type encoder struct {
	w   io.Writer
	err error
	buf [8]byte
}

func (e *encoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:4], v)
	e.write(e.buf[:4])
}

func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:8], v)
	e.write(e.buf[:8])
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.write([]byte(s))
}

func (e *encoder) zeros(n uint64) { e.write(make([]byte, n)) }

func (e *encoder) value(v any) {
	switch v := v.(type) {
	case uint32:
		e.u32(typeUint32)
		e.u32(v)
	case int32:
		e.u32(typeInt32)
		e.u32(uint32(v))
	case float32:
		e.u32(typeFloat32)
		e.u32(math.Float32bits(v))
	case bool:
		e.u32(typeBool)
		b := byte(0)
		if v {
			b = 1
		}
		e.write([]byte{b})
	case string:
		e.u32(typeString)
		e.str(v)
	case []string:
		e.array(typeString, len(v))
		for _, s := range v {
			e.str(s)
		}
	case []float32:
		e.array(typeFloat32, len(v))
		for _, x := range v {
			e.u32(math.Float32bits(x))
		}
	case []int32:
		e.array(typeInt32, len(v))
		for _, x := range v {
			e.u32(uint32(x))
		}
	default:
		e.err = errors.New("gguf: unsupported value type") // validate catches this first
	}
}

func (e *encoder) array(elem uint32, n int) {
	e.u32(typeArray)
	e.u32(elem)
	e.u64(uint64(n))
}
