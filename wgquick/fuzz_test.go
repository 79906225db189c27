package wgquick

import (
	"testing"
)

// FuzzParse: Parse never panics; a file it accepts renders, in both
// forms, to a file that parses to the same File (Config, hooks, DNS and
// SaveConfig), except for Render when Unrenderable lists gaps.
func FuzzParse(f *testing.F) {
	for _, data := range testdata(f) {
		f.Add(data)
		file, err := Parse("wg0.conf", data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(RenderNative(file))
	}
	for _, file := range codeFiles(f) {
		f.Add(Render(file))
		f.Add(RenderNative(file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("wg0.conf", data)
		if err != nil {
			return
		}
		for name, render := range map[string]func(*File) []byte{"Render": Render, "RenderNative": RenderNative} {
			out := render(file)
			again, err := Parse("wg0.conf", out)
			if err != nil {
				t.Fatalf("Parse(%s(Parse(data))): %v\ndata:\n%s\nrendered:\n%s", name, err, data, out)
			}
			if name == "Render" && len(Unrenderable(file)) > 0 {
				continue
			}
			if !sameFile(renderedAs(name, file), again) {
				t.Fatalf("%s does not round-trip:\n got %v %+v\nwant %v %+v\ndata:\n%s\nrendered:\n%s", name, again.Config, *again, file.Config, *file, data, out)
			}
		}
	})
}
