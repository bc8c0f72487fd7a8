// Posts one tweet with a picture and its alt text with twitter-api-v2, the
// way a Node.js maker would, to the local X API emulator: v2.uploadMedia
// (the library's v2 upload: INITIALIZE, 1 MiB APPENDs, FINALIZE), then
// v2.createMediaMetadata for the alt text, then v2.tweet with the media id.
//
//   node upload.js BASE_URL FILE MIME_TYPE ALT TEXT     (keys in PITWEET_API_KEY, ...)
'use strict';
const fs = require('fs');
const { TwitterApi } = require('twitter-api-v2');

async function main() {
  const [base, file, type, alt, text] = process.argv.slice(2);
  const client = new TwitterApi({
    appKey: process.env.PITWEET_API_KEY,
    appSecret: process.env.PITWEET_API_SECRET,
    accessToken: process.env.PITWEET_ACCESS_TOKEN,
    accessSecret: process.env.PITWEET_ACCESS_SECRET,
  });
  client.v2.setPrefix(base + '/2/');
  const mediaId = await client.v2.uploadMedia(fs.readFileSync(file), { media_type: type });
  await client.v2.createMediaMetadata(mediaId, { alt_text: { text: alt } });
  const { data } = await client.v2.tweet({ text, media: { media_ids: [mediaId] } });
  console.log(data.id);
}

main().catch((err) => {
  console.error('upload.js:', err.message || err, err.data ? JSON.stringify(err.data) : '');
  process.exit(1);
});
