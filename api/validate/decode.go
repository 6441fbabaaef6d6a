package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
)

// DecodeJSON decodes one JSON value into v, which must point to a struct,
// refusing unknown fields (a misspelt "timout" is an error, not a default)
// and trailing data. The error is one short line naming the field and what
// to give, however large the input.
func DecodeJSON(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return decodeError(err, v)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("input has data after its JSON object: give exactly one object")
	}
	return nil
}

func decodeError(err error, v any) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("input is not valid JSON (at byte %d): give one JSON object", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("input is a JSON %s: give a JSON object with fields %s", Truncate(typ.Value, quoteLen), fieldList(v))
		}
		return fmt.Errorf("field %s is a JSON %s: give a %s", Quote(typ.Field), Truncate(typ.Value, quoteLen), jsonKind(typ.Type))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("input is truncated JSON: give one complete JSON object")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s: the fields are %s", Quote(strings.Trim(name, `"`)), fieldList(v))
	}
	return errors.New(Truncate(strings.TrimPrefix(msg, "json: "), 200))
}

// fieldList names v's JSON fields, sorted.
func fieldList(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return "(none)"
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			names = append(names, strings.Split(fieldList(reflect.New(f.Type).Interface()), ", ")...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "JSON array"
	case reflect.Struct, reflect.Map:
		return "JSON object"
	}
	return t.String()
}
