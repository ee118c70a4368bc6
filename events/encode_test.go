package events

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// viaEncodingJSON is what EncodeProperties wrote before it had an encoder of its own.
func viaEncodingJSON(props map[string]any) ([]byte, error) {
	if len(props) == 0 {
		return []byte(`{}`), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(props); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func checkEncoding(t *testing.T, props map[string]any) {
	t.Helper()
	want, wantErr := viaEncodingJSON(props)
	got, gotErr := EncodeProperties(props)
	if (gotErr == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
		t.Errorf("EncodeProperties(%#v) = %s, %v; encoding/json wrote %s, %v", props, got, gotErr, want, wantErr)
	}
}

func TestEncodePropertiesAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, props := range []map[string]any{
		nil,
		{},
		{"b": 1.0, "a": "x", "c": nil, "d": true, "e": false},
		{"html": "<a href='x'>&</a>", "ctl": "\x00\x01\b\f\n\r\t\x1f\x7f", "q": `"\/`, "bad": "a\xffb\xc0", "sep": "\u2028\u2029", "emoji": "😀é"},
		{"\x00key\u2028": "k", "z": "", "": ""},
		{"f": []float64{0, -0.0, 1e-7, 1e-6, 1e20, 1e21, 123456789.125, -1.5e-10, 5e-324, math.MaxFloat64}},
		{"l": []any{}, "nl": []any(nil), "o": map[string]any{}, "no": map[string]any(nil), "deep": map[string]any{"x": []any{map[string]any{"y": []any{1.0, "2"}}}}},
		{"nan": math.NaN()},
		{"inf": []any{math.Inf(-1)}},
		{"other": 3},
	} {
		if fs, ok := props["f"].([]float64); ok {
			for _, f := range fs {
				checkEncoding(t, map[string]any{"f": f, "g": -f})
			}
			continue
		}
		checkEncoding(t, props)
	}
}

// FuzzEncodeProperties checks the encoder against encoding/json on any key, string, number and
// JSON document.
func FuzzEncodeProperties(f *testing.F) {
	f.Add("key", "value", 1.5, []byte(`{"a":[1,{"b":null}]}`))
	f.Add("<&>", "\x00\xff\u2028", 1e21, []byte(`[]`))
	f.Add("", "", -1e-7, []byte(`{"\u0000":"\ud800"}`))
	f.Fuzz(func(t *testing.T, key, s string, n float64, doc []byte) {
		props := map[string]any{key: s, "n": n, "l": []any{s, n, nil, true}, "o": map[string]any{s: key}}
		var v any
		if json.Unmarshal(doc, &v) == nil {
			props["doc"] = v
		}
		checkEncoding(t, props)
	})
}

func BenchmarkEncodeProperties(b *testing.B) {
	props := benchProperties()
	b.Run("encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeProperties(props); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := viaEncodingJSON(props); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchProperties() map[string]any {
	return map[string]any{
		"plan": "pro", "seats": 3.0, "trial": false, "path": "/pricing", "referrer": "https://example.com/a?b=c",
		"title": "Pricing — Example", "width": 1280.0, "height": 800.0, "tags": []any{"a", "b", "c"},
		"utm": map[string]any{"source": "newsletter", "medium": "email", "campaign": "spring"},
	}
}
