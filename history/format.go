package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// On-disk layout (all integers little endian).
//
// Segment file "<20-digit base seq>.seg":
//
//	header  magic "edgeHIST" | version u32 | base seq u64 | crc32c(previous 20 bytes) u32
//	frame*  marker u32 | payload length u32 | crc32c(payload) u32 | payload
//
// Payload:
//
//	seq u64 | unix nanos i64 | hash len u8 | hash | name len u8 | name |
//	dim u32 | dim × float32 | thumb len u32 | thumb
//
// The marker lets recovery find the next frame after a corrupt one whose
// length field cannot be trusted; a candidate is only accepted when its CRC and
// payload structure check out and its sequence number moves forward.
const (
	segMagic      = "edgeHIST"
	segVersion    = 1
	headerLen     = 24
	frameMarker   = 0x5aa51fec
	frameHdrLen   = 12
	maxDim        = 1 << 16
	maxThumb      = 16 << 20
	maxPayloadLen = 32 + 2*255 + 4*maxDim + maxThumb
	payloadFixed  = 8 + 8 + 1 + 1 + 4 + 4
)

var (
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
	markerBytes = binary.LittleEndian.AppendUint32(nil, frameMarker)
	errHeader   = errors.New("bad segment header")
)

func putHeader(b []byte, base uint64) {
	copy(b[0:8], segMagic)
	binary.LittleEndian.PutUint32(b[8:12], segVersion)
	binary.LittleEndian.PutUint64(b[12:20], base)
	binary.LittleEndian.PutUint32(b[20:24], crc32.Checksum(b[:20], castagnoli))
}

// parseHeader checks a segment header and returns its base sequence number.
func parseHeader(b []byte) (uint64, error) {
	if len(b) < headerLen {
		return 0, fmt.Errorf("%w: %d bytes, want %d", errHeader, len(b), headerLen)
	}
	if string(b[0:8]) != segMagic {
		return 0, fmt.Errorf("%w: magic %q", errHeader, b[0:8])
	}
	if crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:24]) {
		return 0, fmt.Errorf("%w: checksum mismatch", errHeader)
	}
	if v := binary.LittleEndian.Uint32(b[8:12]); v != segVersion {
		return 0, fmt.Errorf("%w: version %d, want %d", errHeader, v, segVersion)
	}
	return binary.LittleEndian.Uint64(b[12:20]), nil
}

// appendFrame encodes one record as a complete frame. The caller has
// validated the record's field sizes.
func appendFrame(dst []byte, seq uint64, unixNano int64, r *Record) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, frameMarker)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // length and crc, filled below
	p := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(unixNano))
	dst = append(dst, byte(len(r.ModelHash)))
	dst = append(dst, r.ModelHash...)
	dst = append(dst, byte(len(r.ModelName)))
	dst = append(dst, r.ModelName...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Embedding)))
	for _, v := range r.Embedding {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Thumb)))
	dst = append(dst, r.Thumb...)
	binary.LittleEndian.PutUint32(dst[start+4:], uint32(len(dst)-p))
	binary.LittleEndian.PutUint32(dst[start+8:], crc32.Checksum(dst[p:], castagnoli))
	return dst
}

// rawRecord is a decoded payload whose byte fields alias the scanned buffer.
type rawRecord struct {
	seq      uint64
	unixNano int64
	hash     []byte
	name     []byte
	emb      []byte // dim × little-endian float32
	thumb    []byte
	thumbOff int // offset of thumb within the payload
}

func (r *rawRecord) dim() int { return len(r.emb) / 4 }

// decodeEmbedding writes the embedding into dst, which has length dim.
func (r *rawRecord) decodeEmbedding(dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.emb[4*i:]))
	}
}

// decodePayload parses a payload whose CRC already matched. Every length is
// checked against the bytes present and the payload must be consumed exactly.
func decodePayload(p []byte) (rawRecord, error) {
	var r rawRecord
	if len(p) < payloadFixed {
		return r, fmt.Errorf("payload of %d bytes is shorter than the fixed fields", len(p))
	}
	r.seq = binary.LittleEndian.Uint64(p[0:])
	r.unixNano = int64(binary.LittleEndian.Uint64(p[8:]))
	i := 16
	take := func(n int) ([]byte, bool) {
		if n < 0 || n > len(p)-i {
			return nil, false
		}
		b := p[i : i+n : i+n]
		i += n
		return b, true
	}
	var ok bool
	if r.hash, ok = take(int(p[i]) + 1); !ok {
		return r, errors.New("model hash overruns payload")
	}
	r.hash = r.hash[1:]
	if len(r.hash) == 0 {
		return r, errors.New("empty model hash")
	}
	if i >= len(p) {
		return r, errors.New("model name overruns payload")
	}
	if r.name, ok = take(int(p[i]) + 1); !ok {
		return r, errors.New("model name overruns payload")
	}
	r.name = r.name[1:]
	if len(p)-i < 4 {
		return r, errors.New("dim overruns payload")
	}
	dim := int(binary.LittleEndian.Uint32(p[i:]))
	i += 4
	if dim == 0 || dim > maxDim {
		return r, fmt.Errorf("dim %d out of range", dim)
	}
	if r.emb, ok = take(4 * dim); !ok {
		return r, fmt.Errorf("embedding of dim %d overruns payload", dim)
	}
	if len(p)-i < 4 {
		return r, errors.New("thumb length overruns payload")
	}
	tn := int(binary.LittleEndian.Uint32(p[i:]))
	i += 4
	r.thumbOff = i
	if r.thumb, ok = take(tn); !ok {
		return r, fmt.Errorf("thumb of %d bytes overruns payload", tn)
	}
	if i != len(p) {
		return r, fmt.Errorf("%d trailing bytes in payload", len(p)-i)
	}
	return r, nil
}

// parseFrame parses the frame at the start of b. It accepts the frame only if
// it is complete, its CRC matches, its payload is well formed and its seq is
// greater than after. It returns the frame's total length.
func parseFrame(b []byte, after uint64) (rawRecord, int, bool) {
	if len(b) < frameHdrLen || binary.LittleEndian.Uint32(b) != frameMarker {
		return rawRecord{}, 0, false
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n > maxPayloadLen || int64(n) > int64(len(b)-frameHdrLen) {
		return rawRecord{}, 0, false
	}
	p := b[frameHdrLen : frameHdrLen+int(n)]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return rawRecord{}, 0, false
	}
	r, err := decodePayload(p)
	if err != nil || r.seq <= after {
		return rawRecord{}, 0, false
	}
	return r, frameHdrLen + int(n), true
}

// scanResult says what scanSegment found.
type scanResult struct {
	end     int    // offset just past the last good frame
	records int    // good frames
	regions int    // corrupt byte ranges followed by a good frame
	tailBad bool   // bytes after end that hold no good frame
	lastSeq uint64 // seq of the last good frame, or after if none
}

// scanSegment walks the frames of a segment's bytes from start. For each good
// frame it calls fn with the frame's offset. After a bad frame it searches for
// the next good one (resynchronising on the marker), so a corrupt record in
// the middle costs only itself. It never panics on any input.
func scanSegment(data []byte, start int, after uint64, fn func(off int, r *rawRecord)) scanResult {
	res := scanResult{end: start, lastSeq: after}
	if start > len(data) {
		res.end = len(data)
		return res
	}
	off := start
	for off < len(data) {
		if r, n, ok := parseFrame(data[off:], res.lastSeq); ok {
			fn(off, &r)
			res.records++
			res.lastSeq = r.seq
			off += n
			res.end = off
			continue
		}
		next := resync(data, off+1, res.lastSeq)
		if next < 0 {
			res.tailBad = true
			break
		}
		res.regions++
		off = next
	}
	return res
}

// resync returns the offset of the next good frame at or after from, or -1.
func resync(data []byte, from int, after uint64) int {
	for from < len(data) {
		i := bytes.Index(data[from:], markerBytes)
		if i < 0 {
			return -1
		}
		if _, _, ok := parseFrame(data[from+i:], after); ok {
			return from + i
		}
		from += i + 1
	}
	return -1
}
