// The provider tests' way through an answer translator: an answer fed in pieces, and the events
// of the stream it made.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/provider/provider.h"

namespace fwd::dataplane::provider::answer_feed {

/// Feeds `answer` to `tr` in pieces of `piece` bytes, then finishes it (which must not fail);
/// returns what the client gets.
inline std::string feedAnswer(AnswerTranslator& tr, std::string_view answer,
                              size_t piece = 1 << 20) {
  std::string out;
  for (size_t at = 0; at < answer.size(); at += piece) {
    tr.feed(answer.substr(at, piece));
    out += tr.out();
    tr.out().clear();
  }
  auto e = tr.finish();
  EXPECT_FALSE(e.has_value()) << e->message;
  return out + tr.out();
}

/// The JSON of each "data: " event of `stream`; `done`: a [DONE] came.
inline std::vector<nlohmann::json> chunkEvents(const std::string& stream, bool& done) {
  std::vector<nlohmann::json> out;
  done = false;
  size_t at = 0;
  while ((at = stream.find("data: ", at)) != std::string::npos) {
    size_t end = stream.find("\n\n", at);
    std::string data = stream.substr(at + 6, end - at - 6);
    if (data == "[DONE]") {
      done = true;
    } else {
      out.push_back(nlohmann::json::parse(data));
    }
    at = end;
  }
  return out;
}

}  // namespace fwd::dataplane::provider::answer_feed
