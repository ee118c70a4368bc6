// Package jobs holds the River job arguments and workers of Profiles. Workers depend on small
// interfaces (a ChangeSink, ...) that the db adapters implement; cmd wires them.
package jobs
