#include "dataplane/config/snapshot_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fwd::dataplane::config {
namespace {

class SnapshotFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fwd-snapfile-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SnapshotFileTest, RoundTripsAndIsOwnerOnly) {
  // A saved snapshot loads back identical, and the file (it holds credentials) is 0600.
  SnapshotFile file(dir_ + "/state");
  EXPECT_EQ(file.load().status().code(), absl::StatusCode::kNotFound);
  fwd::v1::Snapshot s;
  s.set_version(42);
  auto* u = s.add_upstreams();
  u->set_name("openai");
  u->set_api_key("sk-secret");
  ASSERT_TRUE(file.save(s).ok());
  auto loaded = file.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->version(), 42u);
  EXPECT_EQ(loaded->upstreams(0).api_key(), "sk-secret");
  struct stat st {};
  ASSERT_EQ(::stat(file.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SnapshotFileTest, CorruptOrTruncatedFilesAreDataLoss) {
  // A damaged file is reported, not half-loaded.
  SnapshotFile file(dir_);
  fwd::v1::Snapshot s;
  s.set_version(1);
  s.add_upstreams()->set_name("x");
  ASSERT_TRUE(file.save(s).ok());
  std::filesystem::resize_file(file.path(), std::filesystem::file_size(file.path()) - 2);
  EXPECT_EQ(file.load().status().code(), absl::StatusCode::kDataLoss);
  std::ofstream(file.path()) << "garbage";
  EXPECT_EQ(file.load().status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace fwd::dataplane::config
