package state

// OptionKind is how a table option's value is written in CQL.
type OptionKind int

// Option kinds.
const (
	OptionString OptionKind = iota
	OptionInt
	OptionFloat
	OptionBool
	OptionMap
)

// TableOptions are the table options ringmaster manages, by CQL name (also
// their system_schema.tables column names): a Table manifest may set
// exactly these, and the live schema read holds exactly these.
var TableOptions = map[string]OptionKind{
	"comment":                     OptionString,
	"gc_grace_seconds":            OptionInt,
	"default_time_to_live":        OptionInt,
	"bloom_filter_fp_chance":      OptionFloat,
	"crc_check_chance":            OptionFloat,
	"speculative_retry":           OptionString,
	"additional_write_policy":     OptionString,
	"memtable_flush_period_in_ms": OptionInt,
	"min_index_interval":          OptionInt,
	"max_index_interval":          OptionInt,
	"read_repair":                 OptionString,
	"cdc":                         OptionBool,
	"compaction":                  OptionMap,
	"compression":                 OptionMap,
	"caching":                     OptionMap,
}
