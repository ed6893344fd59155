package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// maxBody bounds an admin request body.
const maxBody = 64 << 10

// body is a decoded JSON object whose keys may be snake_case (what the dashboard
// sends) or camelCase (what the GETs return): both are accepted (backend-new §2.0).
type body map[string]any

func decodeBody(r *http.Request) (body, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxBody {
		return nil, httpapi.Errorf(http.StatusRequestEntityTooLarge, "Request body too large")
	}
	if len(b) == 0 {
		return body{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "json_invalid", Loc: []any{"body"},
			Msg: "JSON object expected", Input: string(truncate(b, 200))}}}
	}
	return m, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// get returns the first present key among names.
func (b body) get(names ...string) (any, bool) {
	for _, n := range names {
		if v, ok := b[n]; ok {
			return v, true
		}
	}
	return nil, false
}

var errType = errors.New("wrong type")

// str reads an optional string (null clears it: returns "", true, nil with null=true).
func (b body) str(maxLen int, names ...string) (val *string, present bool, err error) {
	v, ok := b.get(names...)
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		return nil, true, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, true, typeError(names[0], "string", v)
	}
	if len(s) > maxLen {
		return nil, true, &httpapi.ValidationError{Items: httpapi.CheckLength(s, []any{"body", names[0]}, httpapi.MaxLen(maxLen))}
	}
	return &s, true, nil
}

func (b body) boolean(names ...string) (val bool, present bool, err error) {
	v, ok := b.get(names...)
	if !ok {
		return false, false, nil
	}
	bv, ok := v.(bool)
	if !ok {
		return false, true, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.BoolParsing(v, "body", names[0])}}
	}
	return bv, true, nil
}

func (b body) strings(names ...string) (val []string, present bool, err error) {
	v, ok := b.get(names...)
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		return []string{}, true, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, true, typeError(names[0], "list of strings", v)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, true, typeError(names[0], "list of strings", v)
		}
		out = append(out, s)
	}
	return out, true, nil
}

func typeError(name, want string, input any) error {
	return &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "type_error", Loc: []any{"body", name},
		Msg: "Input should be a valid " + want, Input: input}}}
}

// readChanges decodes the request body and turns it into the column changes a create
// or update applies (the resource's own parser checks and maps the fields).
func readChanges(r *http.Request, parse func(body) (map[string]any, error)) (map[string]any, error) {
	b, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	return parse(b)
}
