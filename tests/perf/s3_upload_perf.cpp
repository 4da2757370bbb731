// Standalone measurement (not part of ctest): writes a file's bytes through
// S3Store, as the FDW does (Create, many small Write calls, Finish, Commit),
// and prints the seconds from Create to Commit. Driven by
// s3_upload_perf.py, which compares with boto3 on the same moto_server.
//
//   s3_upload_perf <location> <endpoint> <file> <key> [write_size] [option=value ...]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "common/error.h"
#include "storage/store_factory.h"

int main(int argc, char **argv) {
  if (argc < 5) {
    std::cerr << "usage: s3_upload_perf <location> <endpoint> <file> <key> [write_size] "
                 "[option=value ...]\n";
    return 2;
  }
  std::ifstream in(argv[3], std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t write_size = argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 65536;
  cdw::StoreOptions options = {{"endpoint", argv[2]}};
  for (int i = 6; i < argc; i++) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    if (eq != std::string::npos) options[arg.substr(0, eq)] = arg.substr(eq + 1);
  }
  try {
    auto store = cdw::OpenObjectStore(argv[1], options, {"bench", "bench", ""});
    auto start = std::chrono::steady_clock::now();
    auto writer = store->Create(argv[4]);
    for (size_t offset = 0; offset < data.size(); offset += write_size)
      writer->Write(data.data() + offset, std::min(write_size, data.size() - offset));
    writer->Finish();  // every part uploaded
    auto finished = std::chrono::steady_clock::now();
    writer->Commit();  // CompleteMultipartUpload
    auto end = std::chrono::steady_clock::now();
    std::printf("{\"seconds\": %.4f, \"complete_seconds\": %.4f, \"bytes\": %zu}\n",
                std::chrono::duration<double>(end - start).count(),
                std::chrono::duration<double>(end - finished).count(), data.size());
  } catch (const cdw::Error &e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
