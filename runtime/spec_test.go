package runtime

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestParseSpecOtherPlatforms: ParseSpec keeps the sections for other
// platforms as JSON while it decodes (specDoc), and still returns them
// decoded, as a plain decode of specs.Spec does, so that Validate refuses
// them by name.
func TestParseSpecOtherPlatforms(t *testing.T) {
	def, err := json.Marshal(DefaultSpec(false))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(string(def), "}")
	for _, tc := range []struct {
		name, doc string
	}{
		{"linux only", string(def)},
		{"null sections", base + `,"windows":null,"solaris":null,"vm":null,"zos":null,"freebsd":null}`},
		{"every platform", base + `,"windows":{"layerFolders":["C:\\l"]},"solaris":{"milestone":"m"},"vm":{"kernel":{"path":"/k"}},"zos":{"namespaces":[{"type":"pid"}]},"freebsd":{"jail":{"parent":"p"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want specs.Spec
			if err := json.Unmarshal([]byte(tc.doc), &want); err != nil {
				t.Fatal(err)
			}
			got, err := ParseSpec([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("ParseSpec(%s) = %+v, want %+v", tc.name, *got, want)
			}
			// Encoded, it is what encoding/json makes of the spec.
			enc, err := json.Marshal(encodable(got))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := json.Marshal(&want)
			if err != nil {
				t.Fatal(err)
			}
			if string(enc) != string(plain) {
				t.Errorf("encodable(%s) encodes as\n%s\nwant\n%s", tc.name, enc, plain)
			}
		})
	}
}

// TestParseSpecErrors: a type error names its field, in the other
// platforms' sections too.
func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		doc, want string
	}{
		{`{"process":{"user":{"uid":"root"}}}`, "process.user.uid: cannot be a JSON string (want uint32)"},
		{`{"windows":{"layerFolders":[1]}}`, "windows.layerFolders: cannot be a JSON number (want string)"},
		{`{"vm":5}`, "vm: cannot be a JSON number"},
		{`[1]`, "malformed JSON"},
		{`{"process":`, "malformed JSON"},
	} {
		_, err := ParseSpec([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%s) = %v, want an error with %q", tc.doc, err, tc.want)
		}
	}
}
