"""Posts tweets with tweepy to the local X API emulator.

tweepy.Client always addresses https://api.twitter.com. The request is
built, signed and sent by tweepy unchanged; only the socket goes to the
emulator: a transport adapter swaps the address for the emulator's and
keeps "Host: api.twitter.com", as curl --resolve would. The emulator
checks the signature over the URL as the client addressed it, so the
signature tweepy computed for api.twitter.com is verified as is.
REQUESTS_CA_BUNDLE makes requests trust the emulator's CA.

    python3 tweet.py BASE_URL TEXT            one tweet, print its id
    python3 tweet.py BASE_URL PREFIX N        N tweets "PREFIX i" in this
                                              process; print seconds per tweet
"""
import os
import sys
import time

import requests.adapters
import tweepy

X_HOST = "https://api.twitter.com"


class Redirect(requests.adapters.HTTPAdapter):
    def __init__(self, base):
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):
        if request.url.startswith(X_HOST):
            request.url = self.base + request.url[len(X_HOST):]
            request.headers["Host"] = "api.twitter.com"
        return super().send(request, **kwargs)


def client(base):
    c = tweepy.Client(
        consumer_key=os.environ["PITWEET_API_KEY"],
        consumer_secret=os.environ["PITWEET_API_SECRET"],
        access_token=os.environ["PITWEET_ACCESS_TOKEN"],
        access_token_secret=os.environ["PITWEET_ACCESS_SECRET"],
    )
    c.session.mount(X_HOST, Redirect(base))
    return c


def main():
    base = sys.argv[1]
    c = client(base)
    if len(sys.argv) == 3:
        print(c.create_tweet(text=sys.argv[2]).data["id"])
        return
    prefix, n = sys.argv[2], int(sys.argv[3])
    start = time.perf_counter()
    for i in range(n):
        c.create_tweet(text="%s %d" % (prefix, i))
    print("%.9f" % ((time.perf_counter() - start) / n))


if __name__ == "__main__":
    main()
