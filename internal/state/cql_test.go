package state

import "testing"

func TestQuoteIdentifier(t *testing.T) {
	tests := []struct{ in, want string }{
		{"events", "events"},
		{"user_id2", "user_id2"},
		{"key", "key"},   // unreserved keyword: Cassandra reads it unquoted
		{"type", "type"}, // unreserved keyword
		{"select", `"select"`},
		{"where", `"where"`},
		{"nan", `"nan"`},
		{"userId", `"userId"`},
		{"Events", `"Events"`},
		{"SELECT", `"SELECT"`},
		{"1st", `"1st"`},
		{"_x", `"_x"`},
		{`a"b`, `"a""b"`},
		{"", `""`},
	}
	for _, tt := range tests {
		if got := QuoteIdentifier(tt.in); got != tt.want {
			t.Errorf("QuoteIdentifier(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, w := range ReservedKeywords() {
		if got := QuoteIdentifier(w); got != `"`+w+`"` {
			t.Errorf("reserved word %q written %s, want it quoted", w, got)
		}
	}
	if !IsReservedKeyword("Table") || IsReservedKeyword("key") {
		t.Error("IsReservedKeyword: want Table reserved, key not")
	}
}

func TestTableCQLQuotesNames(t *testing.T) {
	tbl := &Table{
		Keyspace:     "app",
		Name:         "Order",
		Columns:      []Column{{Name: "from", Type: "int"}, {Name: "To", Type: "int"}, {Name: "v", Type: "text"}},
		PartitionKey: []string{"from"},
		Clustering:   []ClusteringColumn{{Name: "To"}},
	}
	if got, want := tbl.PrimaryKeyCQL(), `PRIMARY KEY (("from"), "To")`; got != want {
		t.Errorf("PrimaryKeyCQL = %s, want %s", got, want)
	}
	if got, want := tbl.ClusteringOrderCQL(), `CLUSTERING ORDER BY ("To" ASC)`; got != want {
		t.Errorf("ClusteringOrderCQL = %s, want %s", got, want)
	}
	want := "CREATE TABLE IF NOT EXISTS app.\"Order\" (\n    \"from\" int,\n    \"To\" int,\n    v text,\n    PRIMARY KEY ((\"from\"), \"To\")\n) WITH CLUSTERING ORDER BY (\"To\" ASC);"
	if got := tbl.CreateCQL(); got != want {
		t.Errorf("CreateCQL:\n%s\nwant\n%s", got, want)
	}
}
