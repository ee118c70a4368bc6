#!/usr/bin/env node
// protoc-gen-connect-shim restores the `<name>_connect.ts` modules that connect-es v1 generated and v2 no longer
// does. With protobuf-es v2 and connect-es v2 the service descriptors live in protoc-gen-es's `<name>_pb.ts`, but
// our public API page imports them from `./gen/profiles/v1/profiles_sdk_connect`. For every proto file that
// declares services this plugin writes `<name>_connect.ts`, re-exporting each service from `./<name>_pb`, so the
// page's code works unchanged. It must run beside protoc-gen-es with the same `out` and options (see buf.gen.yaml).
// Each file reads `import { S as S$1 } from "./<name>_pb"; export const S = S$1;`: protoplugin renames the import
// so the export keeps the service's name, and applies import_extension and the other options to the path.
import { createEcmaScriptPlugin, runNodeJs } from "@bufbuild/protoplugin";

// Printed in each file's preamble; bump it when the output changes.
const version = "v1.0.0";

/** @param {import("@bufbuild/protoplugin").Schema} schema */
function generateTs(schema) {
	for (const file of schema.files) {
		if (file.services.length === 0) {
			continue;
		}
		const f = schema.generateFile(file.name + "_connect.ts");
		f.preamble(file);
		for (const service of file.services) {
			f.print(f.jsDoc(service));
			f.print(f.export("const", service.name), " = ", f.importSchema(service), ";");
			f.print();
		}
	}
}

runNodeJs(
	createEcmaScriptPlugin({
		name: "protoc-gen-connect-shim",
		version,
		generateTs,
	}),
);
