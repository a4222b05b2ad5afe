// Keeps tests/sdk/sdk_test.mjs honest while fwd is not in the loop: the OpenAI Node SDK script
// runs against fake_upstream directly (--upstream-only). Integration tests of the data plane run
// the same script against fwd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "tests/integration/harness/binaries.h"
#include "tests/integration/harness/fake_upstream.h"
#include "tests/integration/harness/process.h"

namespace fwd::harness {
namespace {

TEST(FakeUpstreamSdkTest, OpenAINodeSdkScriptPassesAgainstTheFake) {
  // The SDK script's checks (chat, stream, embeddings, multipart, error classes) all pass.
  const std::filesystem::path sdk_dir = FWD_SDK_TEST_DIR;
  if (::access("/usr/bin/node", X_OK) != 0) {
    GTEST_SKIP() << "node is not installed";
  }
  if (!std::filesystem::exists(sdk_dir / "node_modules" / "openai")) {
    GTEST_SKIP() << "run `npm ci` in " << sdk_dir.string() << " first";
  }
  FakeUpstreamProcess fake;
  ASSERT_TRUE(fake.start("sdk"));
  CommandResult r =
      runCommand("/usr/bin/node", {(sdk_dir / "sdk_test.mjs").string(), "--upstream-only"},
                 {{"FWD_BASE_URL", fake.baseUrl()}}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("9 passed, 0 failed"), std::string::npos) << r.stdout_text;
}

}  // namespace
}  // namespace fwd::harness
