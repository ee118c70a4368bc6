package clickhouse

// Query is one SQL statement this package sends (besides the migrations themselves), listed so
// that a test can run every one of them on every engine we support (chdbcheck).
type Query struct {
	// Name identifies the query in test output and sample tables; it never changes meaning.
	Name string
	// SQL is the text as the package sends it, with clickhouse-go placeholders (@name).
	SQL string
	// Batch marks the head of a PrepareBatch insert ("INSERT INTO t (columns)"): the rows
	// follow in native blocks, so a text-only engine needs a VALUES list appended.
	Batch bool
}

// Queries lists every statement the package sends.
func Queries() []Query {
	return []Query{
		{Name: "conn.create_database", SQL: createDatabaseSQL("profiles_example")},
		{Name: "migrate.create_table", SQL: sqlCreateMigrationTable},
		{Name: "migrate.table_exists", SQL: sqlMigrationTableExists},
		{Name: "migrate.applied", SQL: sqlAppliedMigrations},
		{Name: "migrate.record", SQL: sqlInsertMigration, Batch: true},
		{Name: "projection.insert_mappings", SQL: sqlInsertMappings, Batch: true},
		{Name: "projection.insert_profiles", SQL: sqlInsertProfiles, Batch: true},
		{Name: "projection.lookup_mappings", SQL: sqlLookupMappings},
		{Name: "projection.lookup_profiles", SQL: sqlLookupProfiles},
		{Name: "events.insert", SQL: sqlInsertEvents, Batch: true},
		{Name: "events.stats", SQL: sqlEventStats},
		{Name: "events.history", SQL: sqlEventHistory},
		{Name: "settle.optimize", SQL: optimizeSQL("events")},
	}
}
