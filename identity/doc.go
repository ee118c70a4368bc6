// Package identity holds the identity rules of Profiles: how Identify and Alias create, link and
// merge profiles, how traits merge, and which ids and traits are refused.
//
// It is the leaf of the house and imports the standard library only. The rules are pure
// functions from a locked snapshot of the graph (State) to the writes that follow (Plan); a Store
// loads the snapshot and applies the plan in one transaction, together with the Change that
// projects the result into the read model.
package identity
