// page-client runs the TypeScript client exactly as the public API page shows it ("ProfilesSDKService — Identify",
// TypeScript client), then Alias, against a running `profiles serve`: once with the Connect protocol's JSON
// format and once with its binary format, over HTTP/1.1, with an SDK key in Authorization.
//
//   PROFILES_URL=http://127.0.0.1:8080 PROFILES_SDK_KEY=... npx tsx test/page-client.ts     (in web/)
//
// It prints one JSON line per call ({"format", "method", "response"}) and exits 1 when a call fails or a
// response has no profileId starting with "prof_". The Go test in cmd/profiles runs it against the real server.
import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf'
import { ConnectError, createClient, type Interceptor } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'
import { AliasResponseSchema, IdentifyResponseSchema } from '../gen/profiles/v1/profiles_sdk_pb'
// The page's import, unchanged but for the directory: the page sits beside gen/, this file one level below.
import { ProfilesSDKService } from '../gen/profiles/v1/profiles_sdk_connect'

function requireEnv(name: string): string {
  const v = process.env[name]
  if (!v) {
    console.error(`page-client: ${name} is not set`)
    process.exit(2)
  }
  return v
}

const baseUrl = requireEnv('PROFILES_URL')
const sdkKey = requireEnv('PROFILES_SDK_KEY')

// bearer authenticates every call with the SDK key, as the SDKs do.
const bearer: Interceptor = (next) => async (req) => {
  req.header.set('Authorization', `Bearer ${sdkKey}`)
  return next(req)
}

// check prints a response as a JSON line and says whether it names a profile.
function check<Desc extends DescMessage>(
  format: string,
  method: string,
  schema: Desc,
  res: MessageShape<Desc> & { profileId: string },
): boolean {
  console.log(JSON.stringify({ format, method, response: toJson(schema, res) }))
  if (!res.profileId.startsWith('prof_')) {
    console.error(`page-client: ${format} ${method}: profileId ${JSON.stringify(res.profileId)} does not start with "prof_"`)
    return false
  }
  return true
}

async function pass(useBinaryFormat: boolean): Promise<boolean> {
  const format = useBinaryFormat ? 'binary' : 'json'
  const transport = createConnectTransport({
    baseUrl,
    httpVersion: '1.1',
    useBinaryFormat,
    interceptors: [bearer],
    defaultTimeoutMs: 10_000,
  })

  // The page's snippet.
  const client = createClient(ProfilesSDKService, transport)
  const identified = await client.identify({ externalId: 'user-123', traits: { email: 'user@example.com', plan: 'pro' } })
  let ok = check(format, 'identify', IdentifyResponseSchema, identified)

  // The page's Alias request.
  const aliased = await client.alias({ previousId: 'anonymous-abc', externalId: 'user-123' })
  ok = check(format, 'alias', AliasResponseSchema, aliased) && ok
  return ok
}

let ok = true
for (const useBinaryFormat of [false, true]) {
  try {
    ok = (await pass(useBinaryFormat)) && ok
  } catch (err) {
    const e = ConnectError.from(err)
    console.error(`page-client: ${useBinaryFormat ? 'binary' : 'json'}: call failed: ${e.message}`)
    ok = false
  }
}
process.exit(ok ? 0 : 1)
