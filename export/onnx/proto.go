package onnx

import (
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// msg is a protobuf message under construction. Small fields are encoded at
// once; large payloads (tensor data) are written by a callback when the
// message is written out, so a model is never held twice in memory. Every
// size is known in advance, which is what length-delimited nesting needs.
type msg struct {
	parts []part
	size  int
}

type part struct {
	b     []byte
	n     int // payload size when write is set
	write func(io.Writer) error
}

func (m *msg) raw(b []byte) {
	if k := len(m.parts); k > 0 && m.parts[k-1].write == nil {
		m.parts[k-1].b = append(m.parts[k-1].b, b...)
	} else {
		m.parts = append(m.parts, part{b: b})
	}
	m.size += len(b)
}

func (m *msg) varint(num protowire.Number, v uint64) {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	m.raw(protowire.AppendVarint(b, v))
}

func (m *msg) int64(num protowire.Number, v int64) { m.varint(num, uint64(v)) }

func (m *msg) float(num protowire.Number, f float32) {
	b := protowire.AppendTag(nil, num, protowire.Fixed32Type)
	m.raw(protowire.AppendFixed32(b, math.Float32bits(f)))
}

func (m *msg) bytes(num protowire.Number, v []byte) {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	m.raw(protowire.AppendBytes(b, v))
}

func (m *msg) str(num protowire.Number, s string) { m.bytes(num, []byte(s)) }

// ints writes a packed repeated int64 field.
func (m *msg) ints(num protowire.Number, v []int64) {
	var p []byte
	for _, x := range v {
		p = protowire.AppendVarint(p, uint64(x))
	}
	m.bytes(num, p)
}

// message embeds sub as field num; sub must not change afterwards.
func (m *msg) message(num protowire.Number, sub *msg) {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	m.raw(protowire.AppendVarint(b, uint64(sub.size)))
	for _, p := range sub.parts {
		if p.write == nil {
			m.raw(p.b)
		} else {
			m.parts = append(m.parts, p)
			m.size += p.n
		}
	}
}

// lazy adds a bytes field of n bytes that write produces later.
func (m *msg) lazy(num protowire.Number, n int, write func(io.Writer) error) {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	m.raw(protowire.AppendVarint(b, uint64(n)))
	m.parts = append(m.parts, part{n: n, write: write})
	m.size += n
}

// writeTo writes the encoded message; a payload callback that writes the
// wrong number of bytes is caught by the counting writer.
func (m *msg) writeTo(w io.Writer) error {
	for _, p := range m.parts {
		if p.write == nil {
			if _, err := w.Write(p.b); err != nil {
				return err
			}
			continue
		}
		cw := &countWriter{w: w}
		if err := p.write(cw); err != nil {
			return err
		}
		if cw.n != int64(p.n) {
			return errShortPayload
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
