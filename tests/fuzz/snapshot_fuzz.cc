// Fuzzes the data plane's snapshot compiler with arbitrary Snapshot bytes, as a broken or
// hostile control plane (or a corrupt state file) could deliver them: compile() must accept or
// refuse with a reason, never crash; a compiled config must then answer lookups.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/config/compiled_config.h"
#include "fwd/v1/config.pb.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Strings with invalid UTF-8 are refused, as they should be, with a log line each: silence.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  fwd::v1::Snapshot snapshot;
  if (!snapshot.ParseFromArray(data, static_cast<int>(size))) {
    return 0;
  }
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name.empty() || name[0] == 'U') {
      return std::nullopt;
    }
    return "sk-from-env";
  };
  fwd::dataplane::config::UpstreamHealthRegistry health;
  auto compiled = fwd::dataplane::config::CompiledConfig::compile(snapshot, env, &health);
  if (!compiled.ok()) {
    FUZZ_CHECK(!compiled.status().message().empty());
    return 0;
  }
  const auto& config = **compiled;
  FUZZ_CHECK(config.version() == snapshot.version());
  fwd::dataplane::config::CandidateList candidates;
  for (const char* model : {"gpt-4o", "", "/v1/files", "llama-3-70b", "*"}) {
    config.candidates(model, candidates);
    for (const auto& route : config.routes()) {
      (void)config.matchRoute(route.path_prefix, model);
    }
    (void)config.matchRoute("", model);
  }
  for (const auto& key : snapshot.keys()) {
    (void)config.findKey(key.name());
  }
  (void)config.findKey("fwd-secret");
  return 0;
}
