// rbfs-server: serves a block-backed rbfs volume over gRPC.
#include "server/server_main.h"

int main(int argc, char** argv) {
  return rbfs::RunServerMain(argc, argv, nullptr);
}
