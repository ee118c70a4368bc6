// Package profiles serves the profiles.v1 API: the SDK's Identify and Alias (through the
// identity rules) and the server-side reads and edits of ProfilesService. Handlers translate
// proto to domain calls and back; errors.go maps domain errors to Connect codes in one table.
package profiles
