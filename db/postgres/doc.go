// Package postgres is the system of record: the pgx pool, the embedded schema migrations
// (ours and River's), and the stores that implement the domain packages' interfaces with SQL.
//
// Functions that must join a caller's transaction take a pgx.Tx.
package postgres
