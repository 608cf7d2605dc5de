// matrix-js-sdk (the SDK behind Element) against a running mediarepo:
// uploads with uploadContent, builds download and thumbnail URLs with
// mxcUrlToHttp (authenticated and legacy), fetches them as Element would
// (the token as Bearer on authenticated URLs, nothing on legacy ones) and
// prints one JSON object with what came back. tests/e2e/test_js_sdk.py
// runs it and checks the result.
//
//   node sdk_roundtrip.mjs BASE_URL ACCESS_TOKEN USER_ID [PNG_FILE]
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const [baseUrl, accessToken, userId, pngPath] = process.argv.slice(2);
if (!baseUrl || !accessToken || !userId) {
    console.error("usage: sdk_roundtrip.mjs BASE_URL TOKEN USER_ID [PNG]");
    process.exit(2);
}
logger.disableAll?.();

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

async function fetchInfo(url, token) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const r = await fetch(url, { headers, redirect: "manual" });
    const body = Buffer.from(await r.arrayBuffer());
    return {
        url,
        status: r.status,
        content_type: r.headers.get("content-type"),
        content_disposition: r.headers.get("content-disposition"),
        length: body.length,
        sha256: sha256(body),
        // Small bodies (errors, text) are returned whole for the test.
        text: body.length <= 4096 ? body.toString("utf8") : null,
    };
}

const client = sdk.createClient({ baseUrl, accessToken, userId });
const out = { sdk_version: null, files: [] };
try {
    const pkg = JSON.parse(readFileSync(new URL(
        "./node_modules/matrix-js-sdk/package.json", import.meta.url)));
    out.sdk_version = pkg.version;
} catch {
    // The version is informative only.
}

const files = [{
    name: "hello from js-sdk.txt",
    type: "text/plain",
    data: Buffer.from("hello from matrix-js-sdk \u2713\n", "utf8"),
}];
if (pngPath) {
    files.push({ name: "picture.png", type: "image/png",
                 data: readFileSync(pngPath), thumbnail: [32, 32] });
}

for (const f of files) {
    const up = await client.uploadContent(f.data, { name: f.name,
                                                    type: f.type });
    const mxc = up.content_uri;
    // (mxc, width, height, resizeMethod, allowDirectLinks, allowRedirects,
    //  useAuthentication): Element's authenticated form, then the legacy.
    const authUrl = client.mxcUrlToHttp(mxc, undefined, undefined, undefined,
                                        false, true, true);
    const legacyUrl = client.mxcUrlToHttp(mxc);
    const res = {
        name: f.name,
        type: f.type,
        length: f.data.length,
        sha256: sha256(f.data),
        content_uri: mxc,
        authenticated: await fetchInfo(authUrl, accessToken),
        authenticated_without_token: await fetchInfo(authUrl, null),
        legacy: await fetchInfo(legacyUrl, null),
    };
    if (f.thumbnail) {
        const [w, h] = f.thumbnail;
        res.thumbnail_authenticated = await fetchInfo(client.mxcUrlToHttp(
            mxc, w, h, "crop", false, true, true), accessToken);
        res.thumbnail_legacy = await fetchInfo(client.mxcUrlToHttp(
            mxc, w, h, "crop"), null);
    }
    out.files.push(res);
}
client.stopClient();
console.log(JSON.stringify(out));
