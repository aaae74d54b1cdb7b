// openapi-json.js: docs/openapi.yaml (the HTTP contract, the source) as
// the compact JSON that a worker serves at GET /openapi.json, checked in
// as docs/openapi.json so that the build needs neither node nor the
// network (Makefile.am builds the bytes into placesd).
//
//   node tests/openapi-json.js docs/openapi.yaml > docs/openapi.json
//   node tests/openapi-json.js --check docs/openapi.yaml docs/openapi.json
//
// With --check it exits 1, saying where, when the JSON is not the YAML's
// (tests/check-openapi.sh runs it). The YAML is read with the `yaml`
// package that tests/package.json pulls in (npm ci --prefix tests).
'use strict';

const fs = require('fs');
const YAML = require('yaml');

function convert(path) {
	const doc = YAML.parseDocument(fs.readFileSync(path, 'utf8'),
	    { prettyErrors: true });

	if (doc.errors.length > 0) {
		for (const e of doc.errors)
			console.error(path + ': ' + e.message);
		process.exit(1);
	}
	return JSON.stringify(doc.toJSON());
}

function main(argv) {
	if (argv[0] === '--check' && argv.length === 3) {
		const want = convert(argv[1]);
		const got = fs.readFileSync(argv[2], 'utf8');

		if (got === want)
			return 0;
		let i = 0;
		while (i < want.length && got[i] === want[i])
			i++;
		console.error(argv[2] + ' is not ' + argv[1] + ' as JSON: they ' +
		    'differ from byte ' + i + ' (' + JSON.stringify(got.slice(i,
		    i + 60)) + ' for ' + JSON.stringify(want.slice(i, i + 60)) +
		    '); run: node tests/openapi-json.js ' + argv[1] + ' > ' +
		    argv[2]);
		return 1;
	}
	if (argv.length !== 1) {
		console.error('usage: openapi-json.js openapi.yaml > openapi.json\n' +
		    '       openapi-json.js --check openapi.yaml openapi.json');
		return 2;
	}
	process.stdout.write(convert(argv[0]));
	return 0;
}

process.exitCode = main(process.argv.slice(2));
