package state

import (
	"strings"
	"testing"
)

func TestParseACLIdentity(t *testing.T) {
	good := map[string]ACLIdentity{
		"digest:ringmaster:x3lyDVPSyVNKbZYzzI8jP8dpSls=": {Scheme: "digest", ID: "ringmaster:x3lyDVPSyVNKbZYzzI8jP8dpSls="},
		"x509:CN=agent,O=acme":                           {Scheme: "x509", ID: "CN=agent,O=acme"},
		"ip:10.0.0.0/8":                                  {Scheme: "ip", ID: "10.0.0.0/8"},
		"world:anyone":                                   {Scheme: "world", ID: "anyone"},
	}
	for in, want := range good {
		got, err := ParseACLIdentity(in)
		if err != nil || got != want {
			t.Errorf("ParseACLIdentity(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"digest:ringmaster:hunter2": "not a digest hash",
		"digest:ringmaster":         "user:hash",
		"world:everyone":            "one id",
		"kerberos:x":                "unknown scheme",
		"nocolon":                   "scheme:id",
	}
	for in, want := range bad {
		_, err := ParseACLIdentity(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseACLIdentity(%q) = %v; want an error saying %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
}
