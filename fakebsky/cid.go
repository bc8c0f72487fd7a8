package fakebsky

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file computes content identifiers the way atproto does
// (atproto.com/specs/data-model): a blob's CID is a CIDv1 with the raw
// codec (0x55) over the SHA-256 of its bytes; a record's is a CIDv1 with
// the DAG-CBOR codec (0x71) over the SHA-256 of its DAG-CBOR encoding. Both
// are written in base32, lower case, without padding, after the multibase
// prefix "b": "bafkrei…" for blobs, "bafyrei…" for records.

const (
	codecRaw     = 0x55
	codecDAGCBOR = 0x71
	hashSHA256   = 0x12
)

var (
	base32Lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	b64std      = base64.RawStdEncoding // $bytes: "base64-encoded … no padding"
)

// cidFor returns the CIDv1 of data with codec, hashed with SHA-256.
func cidFor(codec byte, data []byte) string {
	sum := sha256.Sum256(data)
	b := append([]byte{0x01, codec, hashSHA256, 0x20}, sum[:]...)
	return "b" + base32Lower.EncodeToString(b)
}

// BlobCID returns the CID a PDS gives a blob of these bytes.
func BlobCID(data []byte) string { return cidFor(codecRaw, data) }

// parseCID decodes a CIDv1 string in base32 ("b…") and returns its bytes
// and codec, checking the multihash is whole.
func parseCID(s string) ([]byte, uint64, error) {
	rest, ok := strings.CutPrefix(s, "b")
	if !ok {
		return nil, 0, fmt.Errorf("CID %q is not base32 CIDv1 (starts with b)", truncate(s, 80))
	}
	b, err := base32Lower.DecodeString(rest)
	if err != nil {
		return nil, 0, fmt.Errorf("CID %q is not base32: %w", truncate(s, 80), err)
	}
	r := bytes.NewReader(b)
	version, err1 := binary.ReadUvarint(r)
	codec, err2 := binary.ReadUvarint(r)
	_, err3 := binary.ReadUvarint(r) // hash function
	n, err4 := binary.ReadUvarint(r)
	if err := errors.Join(err1, err2, err3, err4); err != nil || version != 1 || n != uint64(r.Len()) || n == 0 {
		return nil, 0, fmt.Errorf("CID %q is not a CIDv1 with a whole multihash", truncate(s, 80))
	}
	return b, codec, nil
}

// Data model: a record's JSON, decoded with json.Number, read as atproto's
// data model: integers only (no floats), {"$link": CID} a link,
// {"$bytes": base64} bytes.

// A link is a CID in a record.
type link []byte

// fromJSON converts a decoded JSON value to the data model.
func fromJSON(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: the data model has integers only", v)
		}
		if n > 1<<53-1 || n < -(1<<53-1) {
			return nil, fmt.Errorf("integer %d is outside the 53 bits the data model allows", n)
		}
		return n, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := fromJSON(x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case map[string]any:
		if l, ok := v["$link"]; ok && len(v) == 1 {
			s, _ := l.(string)
			b, _, err := parseCID(s)
			if err != nil {
				return nil, err
			}
			return link(b), nil
		}
		if x, ok := v["$bytes"]; ok && len(v) == 1 {
			s, _ := x.(string)
			b, err := b64std.DecodeString(strings.TrimRight(s, "="))
			if err != nil {
				return nil, fmt.Errorf("$bytes is not base64: %w", err)
			}
			return b, nil
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := fromJSON(x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected %T in the data model", v)
}

// encodeDAGCBOR appends the DAG-CBOR encoding of a data-model value (as
// fromJSON makes them): shortest lengths, map keys sorted by length then
// bytes, links as tag 42.
func encodeDAGCBOR(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, 0xf6), nil
	case bool:
		if v {
			return append(b, 0xf5), nil
		}
		return append(b, 0xf4), nil
	case int64:
		if v >= 0 {
			return cborHead(b, 0, uint64(v)), nil
		}
		return cborHead(b, 1, uint64(-(v + 1))), nil
	case string:
		return append(cborHead(b, 3, uint64(len(v))), v...), nil
	case []byte:
		return append(cborHead(b, 2, uint64(len(v))), v...), nil
	case link:
		b = append(b, 0xd8, 42)
		b = cborHead(b, 2, uint64(len(v)+1))
		return append(append(b, 0x00), v...), nil
	case []any:
		b = cborHead(b, 4, uint64(len(v)))
		for _, x := range v {
			var err error
			if b, err = encodeDAGCBOR(b, x); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int {
			if len(x) != len(y) {
				return len(x) - len(y)
			}
			return strings.Compare(x, y)
		})
		b = cborHead(b, 5, uint64(len(v)))
		for _, k := range keys {
			b = append(cborHead(b, 3, uint64(len(k))), k...)
			var err error
			if b, err = encodeDAGCBOR(b, v[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("fakebsky: %T is not in the data model", v)
}

// cborHead appends a CBOR head: major type and argument, shortest form.
func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

// recordCID returns the CID of a data-model value, as a PDS computes a
// record's.
func recordCID(v any) (string, error) {
	b, err := encodeDAGCBOR(nil, v)
	if err != nil {
		return "", err
	}
	return cidFor(codecDAGCBOR, b), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
