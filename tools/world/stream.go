package world

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// The stream format feeds training (tools/train reads it from
// `edgeclip synth --stream`). Each record is:
//
//	uint32 little-endian  N, the length of the JSON header
//	N bytes               JSON: {"width": W, "height": H, "labels": Labels, "captions": [...]}
//	W*H*3 bytes           RGB pixels, row-major
//
// Records follow each other with no separator; the stream ends at EOF.

// Header is the JSON part of a stream record.
type Header struct {
	Width    int      `json:"width"`
	Height   int      `json:"height"`
	Labels   Labels   `json:"labels"`
	Captions []string `json:"captions"`
}

// maxHeader bounds a record's JSON header so a corrupt stream cannot make a
// reader allocate gigabytes.
const maxHeader = 1 << 20

// WriteRecord writes one sample in the stream format.
func WriteRecord(w io.Writer, s *Sample) error {
	h, err := json.Marshal(Header{Width: s.Width, Height: s.Height, Labels: s.Labels, Captions: s.Captions})
	if err != nil {
		return fmt.Errorf("world: encode header: %w", err)
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(h)))
	for _, b := range [][]byte{n[:], h, s.Pixels} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("world: write record: %w", err)
		}
	}
	return nil
}

// ReadRecord reads one record. It returns io.EOF at a clean end of stream and
// a descriptive error for a truncated or malformed record.
func ReadRecord(r io.Reader) (Header, []byte, error) {
	var h Header
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		if err == io.EOF {
			return h, nil, io.EOF
		}
		return h, nil, fmt.Errorf("world: record length: %w", err)
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxHeader {
		return h, nil, fmt.Errorf("world: record header of %d bytes exceeds %d", size, maxHeader)
	}
	hb := make([]byte, size)
	if _, err := io.ReadFull(r, hb); err != nil {
		return h, nil, fmt.Errorf("world: record header: %w", err)
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, nil, fmt.Errorf("world: record header: %w", err)
	}
	if h.Width < 1 || h.Height < 1 || h.Width > MaxSize || h.Height > MaxSize {
		return h, nil, fmt.Errorf("world: record image %dx%d out of range 1..%d", h.Width, h.Height, MaxSize)
	}
	px := make([]byte, h.Width*h.Height*3)
	if _, err := io.ReadFull(r, px); err != nil {
		return h, nil, fmt.Errorf("world: record pixels: %w", err)
	}
	return h, px, nil
}
