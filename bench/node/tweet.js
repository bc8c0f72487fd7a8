// Posts one tweet with twitter-api-v2, the way a Node.js maker would, to the
// local X API emulator: setPrefix (the library's public API) points the v2
// client at it, and NODE_EXTRA_CA_CERTS makes Node trust its CA.
//
//   node tweet.js BASE_URL TEXT     (keys in PITWEET_API_KEY, ...)
'use strict';
const { TwitterApi } = require('twitter-api-v2');

async function main() {
  const [base, text] = process.argv.slice(2);
  const client = new TwitterApi({
    appKey: process.env.PITWEET_API_KEY,
    appSecret: process.env.PITWEET_API_SECRET,
    accessToken: process.env.PITWEET_ACCESS_TOKEN,
    accessSecret: process.env.PITWEET_ACCESS_SECRET,
  });
  client.v2.setPrefix(base + '/2/');
  const { data } = await client.v2.tweet(text);
  console.log(data.id);
}

main().catch((err) => {
  console.error('tweet.js:', err.message || err);
  process.exit(1);
});
