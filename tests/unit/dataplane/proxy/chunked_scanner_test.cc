#include "dataplane/proxy/chunked_scanner.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace fwd::dataplane::proxy {
namespace {

// What a relay built on the scanner would send and see: the bytes forwarded, the payload, and
// how the message ended. Pieces arrive as given; an unconsumed tail is carried to the next one,
// as the proxy carries it in its relay buffer.
struct Relayed {
  std::string forwarded;
  std::string payload;
  bool done = false;
  std::string error;
  std::string left_over;  // bytes after the end of the message
};

Relayed relay(const std::vector<std::string>& pieces) {
  ChunkedScanner scanner;
  Relayed out;
  std::string carry;
  for (const std::string& piece : pieces) {
    carry += piece;
    auto r = scanner.scan(carry, [&](std::string_view data) { out.payload.append(data); });
    EXPECT_LE(r.forward, r.consumed);
    out.forwarded.append(carry, 0, r.forward);
    if (r.error != nullptr) {
      out.error = r.error;
      return out;
    }
    carry.erase(0, r.consumed);
    if (r.done) {
      out.done = true;
      out.left_over = carry;
      return out;
    }
  }
  return out;
}

const std::string kBody =
    "6\r\ndata: \r\n"
    "17;name=\"quoted value\"\r\n{\"x\":1}\n\ndata: [DONE]\n\n\r\n"
    "0\r\n"
    "x-trailer: 1\r\n"
    "\r\n";
const std::string kPayload = "data: {\"x\":1}\n\ndata: [DONE]\n\n";
const std::string kForwarded = kBody.substr(0, kBody.find("0\r\n"));

// A whole body: payload decoded, framing forwarded up to (not including) the last chunk.
TEST(ChunkedScannerTest, ForwardsFramingUpToTheLastChunk) {
  Relayed r = relay({kBody});
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.payload, kPayload);
  EXPECT_EQ(r.forwarded, kForwarded);
  EXPECT_EQ(r.left_over, "");
}

// The same result whatever the read boundaries: every split into two pieces, and byte by byte.
TEST(ChunkedScannerTest, AnySplitGivesTheSameResult) {
  for (size_t cut = 0; cut <= kBody.size(); ++cut) {
    Relayed r = relay({kBody.substr(0, cut), kBody.substr(cut)});
    EXPECT_TRUE(r.done) << "cut at " << cut;
    EXPECT_EQ(r.payload, kPayload) << "cut at " << cut;
    EXPECT_EQ(r.forwarded, kForwarded) << "cut at " << cut;
  }
  std::vector<std::string> bytes;
  for (char c : kBody) {
    bytes.emplace_back(1, c);
  }
  Relayed r = relay(bytes);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.payload, kPayload);
  EXPECT_EQ(r.forwarded, kForwarded);
}

// Bytes after the end of the message are not consumed (the connection is then not reused).
TEST(ChunkedScannerTest, StopsAtTheEndOfTheMessage) {
  Relayed r = relay({"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"});
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.payload, "abc");
  EXPECT_EQ(r.left_over, "HTTP/1.1 200 OK\r\n");
}

// Upper- and lower-case hex and leading zeros are sizes like any other.
TEST(ChunkedScannerTest, ReadsHexSizes) {
  std::string big(0x1F, 'a');
  Relayed r = relay({"01f\r\n" + big + "\r\n1F\r\n" + big + "\r\n00\r\n\r\n"});
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.payload, big + big);
}

// Every framing error is reported; what was forwarded before it is sound framing.
TEST(ChunkedScannerTest, RejectsMalformedFraming) {
  struct Case {
    std::string body;
    std::string error;
    std::string forwarded;
  };
  const std::string ok = "3\r\nabc\r\n";
  const std::vector<Case> cases = {
      {"3\nabc\r\n0\r\n\r\n", "chunk-size line not ended by CRLF", ""},
      {"zz\r\nabc\r\n", "chunk size is not a hexadecimal number", ""},
      {"\r\nabc\r\n", "chunk size is not a hexadecimal number", ""},
      {"3 x\r\nabc\r\n", "chunk size followed by something other than an extension", ""},
      {"3;a=\x01\r\nabc\r\n", "malformed chunk extension value", ""},
      // Found by fuzz_chunked_scanner: extensions a client's parser refuses must not be relayed.
      {"5;x=\xff\xff\xff\xff1\r\nhello\r\n", "malformed chunk extension value", ""},
      {"3;a=\"b\x01\"\r\nabc\r\n", "control character in a chunk extension", ""},
      {"3;a=\"b\r\nabc\r\n", "unterminated quoted chunk extension value", ""},
      {"3;\r\nabc\r\n", "malformed chunk extension name", ""},
      {"3;=b\r\nabc\r\n", "malformed chunk extension name", ""},
      {"3;a=\r\nabc\r\n", "malformed chunk extension value", ""},
      {"3;a b\r\nabc\r\n", "chunk size followed by something other than an extension", ""},
      {"3 \r\nabc\r\n", "chunk size followed by something other than an extension", ""},
      {"3;a=b \r\nabc\r\n", "chunk size followed by something other than an extension", ""},
      {"3\r\nabcd\r\n", "chunk data not followed by CRLF", "3\r\nabc"},
      {"3\r\nabc\rx", "chunk data not followed by CRLF", "3\r\nabc\r"},
      {"fffffffffffffffffff\r\n", "chunk size too large", ""},
      {ok + "0\r\nx: 1\n\r\n", "trailer line not ended by CRLF", ok},
      {ok + std::string(5000, '1'), "chunk-size line too long", ok},
      {ok + "0\r\n" + std::string(9000, 'x') + "\r\n", "trailer section too large", ok},
  };
  for (const Case& c : cases) {
    Relayed r = relay({c.body});
    EXPECT_EQ(r.error, c.error) << c.body.substr(0, 40);
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.forwarded, c.forwarded) << c.body.substr(0, 40);
  }
}

TEST(ChunkedScannerTest, WellFormedExtensionsPass) {
  // Names, token and quoted values (obs-text and quoted pairs included), blanks around them.
  for (const std::string ext :
       {";a", ";a=b", " ; a = b ; c", " ;a", ";a=\"x y\\\"z\xff\"", ";name=\"\";n2=t0k3n!"}) {
    Relayed r = relay({"3" + ext + "\r\nabc\r\n0\r\n\r\n"});
    EXPECT_EQ(r.error, "") << ext;
    EXPECT_TRUE(r.done) << ext;
    EXPECT_EQ(r.payload, "abc") << ext;
  }
}

// A size line still arriving is neither forwarded nor an error until it is too long.
TEST(ChunkedScannerTest, WaitsForAnUnfinishedSizeLine) {
  ChunkedScanner scanner;
  std::string payload;
  auto r = scanner.scan("5\r\nhello\r\n1", [&](std::string_view d) { payload.append(d); });
  EXPECT_EQ(r.error, nullptr);
  EXPECT_FALSE(r.done);
  EXPECT_EQ(r.consumed, 10u);
  EXPECT_EQ(r.forward, 10u);
  EXPECT_EQ(payload, "hello");
  EXPECT_TRUE(scanner.atChunkBoundary());
}

// Mid-chunk the client is not at a boundary: the proxy must not add a chunk of its own there.
TEST(ChunkedScannerTest, KnowsWhenItIsBetweenChunks) {
  ChunkedScanner scanner;
  auto ignore = [](std::string_view) {};
  EXPECT_TRUE(scanner.atChunkBoundary());
  scanner.scan("5\r\nhel", ignore);
  EXPECT_FALSE(scanner.atChunkBoundary());
  scanner.scan("lo\r", ignore);
  EXPECT_FALSE(scanner.atChunkBoundary());
  scanner.scan("\n", ignore);
  EXPECT_TRUE(scanner.atChunkBoundary());
  EXPECT_FALSE(scanner.done());
  auto r = scanner.scan("0\r\n\r\n", ignore);
  EXPECT_TRUE(r.done);
  EXPECT_TRUE(scanner.done());
}

// Random bodies cut at random places: whatever the chunk sizes (hex in either case, leading
// zeros), extensions, trailers and read boundaries, the payload and the forwarded framing are
// exactly what was encoded. Seeded, so a failure repeats.
TEST(ChunkedScannerTest, RandomBodiesAndSplitsRoundTrip) {
  std::mt19937 rng(20261129);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int round = 0; round < 300; ++round) {
    std::string body;
    std::string payload;
    int chunks = pick(0, 12);
    for (int c = 0; c < chunks; ++c) {
      int size = pick(1, 700);
      std::string data;
      for (int i = 0; i < size; ++i) {
        data.push_back(static_cast<char>(pick(0, 255)));  // any byte, CR and LF included
      }
      char hex[20];
      std::snprintf(hex, sizeof hex, pick(0, 1) ? "%x" : "%X", size);
      body += std::string(static_cast<size_t>(pick(0, 2)), '0') + hex;
      if (pick(0, 3) == 0) {
        body += " ;ext=\"v\";flag";
      }
      body += "\r\n" + data + "\r\n";
      payload += data;
    }
    const std::string forwarded = body;
    body += "0\r\n";
    for (int t = pick(0, 2); t > 0; --t) {
      body += "x-trailer-" + std::to_string(t) + ": " + std::to_string(pick(0, 999)) + "\r\n";
    }
    body += "\r\n";
    std::vector<std::string> pieces;
    size_t at = 0;
    while (at < body.size()) {
      size_t n = std::min(body.size() - at, static_cast<size_t>(pick(1, 300)));
      pieces.push_back(body.substr(at, n));
      at += n;
    }
    Relayed r = relay(pieces);
    ASSERT_TRUE(r.done) << "round " << round << ": " << r.error;
    ASSERT_EQ(r.payload, payload) << "round " << round;
    ASSERT_EQ(r.forwarded, forwarded) << "round " << round;
    ASSERT_EQ(r.left_over, "") << "round " << round;
  }
}

}  // namespace
}  // namespace fwd::dataplane::proxy
