package cassandra

import "testing"

func TestAuthorizerChecks(t *testing.T) {
	for setting, want := range map[string]bool{
		"CassandraAuthorizer{}":                        true,
		"AllowAllAuthorizer{}":                         false,
		"org.apache.cassandra.auth.AllowAllAuthorizer": false,
		"com.example.LdapAuthorizer(ldap://x)":         true,
		"":                                             true,
	} {
		if got := authorizerChecks(setting); got != want {
			t.Errorf("authorizerChecks(%q) = %v, want %v", setting, got, want)
		}
	}
}
