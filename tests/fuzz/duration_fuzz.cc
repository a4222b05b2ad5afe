// Fuzzes the duration parser used by every flag and fwdctl option: what it accepts formats
// back to a spelling it parses to the same value.
#include <cstdint>
#include <string>

#include "common/config/duration.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto d = fwd::common::config::parseDuration(text);
  if (!d.ok()) {
    FUZZ_CHECK(!d.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(d->count() >= 0);
  std::string spelled = fwd::common::config::formatDuration(*d);
  auto again = fwd::common::config::parseDuration(spelled);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *d);
  return 0;
}
