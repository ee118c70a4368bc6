// Package auth answers "who is calling, and for which project?" for every request.
//
// It holds the tenant model's administrative side (projects and their API keys, see Manager),
// the credentials a caller can present (SDK and secret API keys, see key.go; signed JWTs, see
// JWTVerifier), and the Connect interceptor (Authenticator) that checks the credential against
// the called service's policy and puts the resulting Principal in the request context.
//
// Rules it keeps, and the tests that pin them:
//   - A key is refused for format or checksum before any store is asked (TestParseTokenRefuses).
//   - Only the SHA-256 of a key's secret part is stored, compared in constant time (VerifySecret).
//   - Every failure to authenticate answers one generic unauthenticated message, so a caller
//     learns nothing about keys or projects that are not its own (TestInterceptorMatrix).
//   - Keys and tokens never reach a log line (TestInterceptorNeverLogsTokens).
//
// The package imports no db package: it declares the stores it needs (KeyStore, ProjectStore)
// and db/postgres implements them.
package auth
