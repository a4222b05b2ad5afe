#include "common/crypto/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <iostream>
#include <vector>

namespace fwd::common::crypto {

namespace {

// OpenSSL 3's one-shot SHA256() looks the algorithm up in the provider store on every call (a
// read lock and three mallocs, ~500 ns); key lookup runs on every request. The algorithm is
// fetched once and each thread reuses one digest context (~120 ns, no lock, no allocation).
struct Sha256Context {
  Sha256Context() : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) {
      std::cerr << "fatal: OpenSSL EVP_MD_CTX_new failed\n";
      std::abort();
    }
  }
  ~Sha256Context() { EVP_MD_CTX_free(ctx); }
  EVP_MD_CTX* ctx;
};

const EVP_MD* sha256Algorithm() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      std::cerr << "fatal: OpenSSL has no SHA256\n";
      std::abort();
    }
    return fetched;
  }();
  return md;
}

}  // namespace

Sha256Digest sha256(std::string_view data) {
  thread_local Sha256Context context;
  Sha256Digest out{};
  unsigned int len = 0;
  if (EVP_DigestInit_ex(context.ctx, sha256Algorithm(), nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, out.data(), &len) != 1 || len != out.size()) {
    std::cerr << "fatal: OpenSSL SHA-256 failed\n";
    std::abort();
  }
  return out;
}

namespace {

std::string hex(const std::uint8_t* bytes, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * size, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

}  // namespace

std::string sha256Hex(std::string_view data) {
  Sha256Digest d = sha256(data);
  return hex(d.data(), d.size());
}

std::string sha1Hex(std::string_view data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), d, &size, EVP_sha1(), nullptr);
  return hex(d, size);
}

bool parseSha256Hex(std::string_view hex, Sha256Digest& out) {
  if (hex.size() != 64) {
    return false;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string randomToken(std::string_view prefix, size_t random_bytes) {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::vector<unsigned char> bytes(random_bytes);
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    std::cerr << "fatal: OpenSSL RAND_bytes failed; refusing to create a weak secret\n";
    std::abort();
  }
  std::string out(prefix);
  // Rejection sampling keeps every character uniform over the 62-letter alphabet.
  for (unsigned char b : bytes) {
    unsigned char v = b;
    while (v >= 248) {
      if (RAND_bytes(&v, 1) != 1) {
        std::abort();
      }
    }
    out.push_back(kAlphabet[v % 62]);
  }
  return out;
}

bool constantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constantTimeEqual(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(void* data, size_t size) { OPENSSL_cleanse(data, size); }

}  // namespace fwd::common::crypto
