// The records spill file: frames come back in order across reopening, a torn frame is cut off,
// the size limit refuses, and a file that cannot be written says so.
#include "dataplane/records/spill_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fwd/v1/records.pb.h"

namespace fwd::dataplane::records {
namespace spill_file_test {

class SpillFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "fwd-spill-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/records.spill";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static fwd::v1::RecordBatch batch(const std::string& first_id, int n) {
    fwd::v1::RecordBatch b;
    for (int i = 0; i < n; ++i) {
      b.add_records()->set_id(first_id + "-" + std::to_string(i));
    }
    return b;
  }

  // What a frame holds, parsed.
  static fwd::v1::RecordBatch parsed(const std::optional<SpillFile::Frame>& frame) {
    fwd::v1::RecordBatch b;
    EXPECT_TRUE(frame.has_value() && b.ParseFromString(frame->batch));
    EXPECT_EQ(static_cast<size_t>(b.records_size()), frame->records);
    return b;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SpillFileTest, FramesComeBackInOrderAcrossReopeningUntilAllAreSent) {
  {
    SpillFile spill(path_, 1 << 20);
    ASSERT_TRUE(spill.openStatus().ok());
    EXPECT_TRUE(spill.empty());
    ASSERT_TRUE(spill.append(batch("a", 2).SerializeAsString()).ok());
    ASSERT_TRUE(spill.append(batch("b", 3).SerializeAsString()).ok());
    auto first = spill.front();
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(parsed(first).records(0).id(), "a-0");
    spill.pop();
    EXPECT_FALSE(spill.empty());
  }
  // Reopened (a restart): what was not acked comes back, from the start of the file; the
  // control plane keeps a record sent twice once.
  SpillFile spill(path_, 1 << 20);
  auto again = spill.front();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(parsed(again).records(0).id(), "a-0");
  spill.pop();
  auto second = spill.front();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->records, 3u);
  spill.pop();
  EXPECT_TRUE(spill.empty());
  EXPECT_EQ(spill.bytes(), 0u);
  EXPECT_EQ(std::filesystem::file_size(path_), 0u);
}

TEST_F(SpillFileTest, ATornLastFrameIsCutOffWhenOpened) {
  std::uintmax_t whole = 0;
  {
    SpillFile spill(path_, 1 << 20);
    ASSERT_TRUE(spill.append(batch("a", 1).SerializeAsString()).ok());
    whole = spill.bytes();
    ASSERT_TRUE(spill.append(batch("b", 50).SerializeAsString()).ok());
  }
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - 7);
  SpillFile spill(path_, 1 << 20);
  EXPECT_EQ(spill.bytes(), whole);
  EXPECT_EQ(std::filesystem::file_size(path_), whole);
  auto only = spill.front();
  ASSERT_TRUE(only.has_value());
  EXPECT_EQ(parsed(only).records(0).id(), "a-0");
  spill.pop();
  EXPECT_TRUE(spill.empty());
}

TEST_F(SpillFileTest, AFrameThatWouldPassTheLimitIsRefused) {
  SpillFile spill(path_, 200);
  ASSERT_TRUE(spill.append(batch("a", 2).SerializeAsString()).ok());
  absl::Status full = spill.append(batch("big", 40).SerializeAsString());
  EXPECT_TRUE(absl::IsResourceExhausted(full)) << full;
  ASSERT_TRUE(spill.append(batch("c", 1).SerializeAsString()).ok());  // a smaller one still fits
  SpillFile none(dir_ + "/none.spill", 0);
  EXPECT_TRUE(absl::IsResourceExhausted(none.append(batch("a", 1).SerializeAsString())));
}

TEST_F(SpillFileTest, AFileThatCannotBeOpenedRefusesEveryAppend) {
  SpillFile spill(dir_ + "/missing/dir/records.spill", 1 << 20);
  EXPECT_FALSE(spill.openStatus().ok());
  absl::Status st = spill.append(batch("a", 1).SerializeAsString());
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(absl::IsResourceExhausted(st));
  EXPECT_NE(st.message().find("missing/dir/records.spill"), std::string::npos) << st;
}

TEST_F(SpillFileTest, AnUnreadableFrameGivesUpTheRestOfTheFile) {
  {
    std::ofstream out(path_, std::ios::binary);
    const char frame[] = {4, 0, 0, 0, '\xff', '\xff', '\xff', '\xff'};  // not a RecordBatch
    out.write(frame, sizeof frame);
  }
  SpillFile spill(path_, 1 << 20);
  EXPECT_FALSE(spill.empty());
  EXPECT_FALSE(spill.front().has_value());
  EXPECT_TRUE(spill.empty());
  EXPECT_EQ(std::filesystem::file_size(path_), 0u);
}

}  // namespace spill_file_test
}  // namespace fwd::dataplane::records
