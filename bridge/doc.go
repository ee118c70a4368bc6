// Package bridge feeds identify and alias messages published on NATS JetStream into the
// identity service, for deployments that already publish them on NATS (SPEC.md, "Storage and
// flow"). A message goes the same path as an API call: identity.Service, one Postgres
// transaction with its River job. The bridge is an adapter beside the Connect handlers; it
// imports the domain and the generated API types, nothing else of the house.
//
// Subjects are <prefix>.<projectID>.identify and <prefix>.<projectID>.alias (prefix "profiles").
// The project travels in the subject because NATS is trusted infrastructure of the deployment:
// there is no API key to derive it from, and whoever may publish on these subjects may write
// to any project, exactly like a process holding every project's secret key. Access to them
// is the deployment's NATS permissions. A project id that is not a plain token (letters,
// digits, '_' and '-'), so one holding '.', '*' or '>', is refused.
//
// Bodies are the API's JSON: protojson of profilesv1.IdentifyRequest or AliasRequest, unknown
// fields ignored. Delivery is at least once; a body without messageId gets
// "nats:<stream>:<stream sequence>:<stored unix nanos>" so a redelivery is answered from the
// idempotency table instead of applied twice (see messageID).
//
// Settlement: Ack once the identity call succeeded (or replayed); Term a message the caller
// must change (a bad subject or body, identity.ErrInvalid, identity.ErrBothIdentified), logged
// at warn without trait values, so it never blocks the ones behind it; Nak with a growing
// delay on anything else (identity.ErrUnavailable, identity.ErrContention, ...) until the
// consumer's MaxDeliver, after which it is dropped and logged at error.
package bridge
