package resolve

import (
	"errors"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	for _, tt := range []struct {
		name string
		want string // a part of the error; "" means valid
	}{
		{"app.example.com", ""},
		{"app.example.com.", ""},
		{"App.Example.COM", ""},
		{"a-b.c-d.example", ""},
		{"1st.example.com", ""},
		{"xn--bcher-kva.example", ""},
		{long63 + ".example.com", ""},
		{strings.Repeat("a.", 126) + "z", ""},  // 253 characters
		{strings.Repeat("a.", 126) + "z.", ""}, // and the trailing dot
		{"", "empty name"},
		{"app", "single label"},
		{"app.", "single label"},
		{"10.0.0.1", "put it in Transparent as 10.0.0.1/32"},
		{"2001:db8::1", "put it in Transparent as 2001:db8::1/128"},
		{"10.0.0.0/24", "is a prefix"},
		{"10.0.0.256", "all-numeric label"},
		{"app.example.123", "all-numeric label"},
		{"app..example.com", "empty label"},
		{".example.com", "empty label"},
		{"app.example.com..", "empty label"},
		{"-app.example.com", "starts or ends with a hyphen"},
		{"app-.example.com", "starts or ends with a hyphen"},
		{"_srv.example.com", "'_'"},
		{"app example.com", "' '"},
		{"app.exämple.com", "letters, digits and hyphens"},
		{long63 + "a.example.com", "64 characters long, more than 63"},
		{strings.Repeat("a.", 127) + "z", "255 characters long, more than the 253"},
	} {
		err := ValidName(tt.name)
		if tt.want == "" {
			if err != nil {
				t.Errorf("ValidName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName saying %q", tt.name, err, tt.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"App.Example.COM.": "app.example.com",
		"app.example.com":  "app.example.com",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}
