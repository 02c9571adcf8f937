// swift-tools-version:5.7
// The Swift package over redcore's C API. NOT COMPILED: no Swift toolchain exists where
// redcore is built and tested; `make test` checks only the C module (CRedcore) by importing
// it with clang's modules from C. See README.md beside this file.
import PackageDescription

let package = Package(
    name: "Redcore",
    products: [
        .library(name: "Redcore", targets: ["Redcore"]),
    ],
    targets: [
        // The C API: include/redcore.h and libredcore, found through pkg-config once
        // redcore is installed (`make install`).
        .systemLibrary(
            name: "CRedcore",
            path: "Sources/CRedcore",
            pkgConfig: "redcore"
        ),
        .target(name: "Redcore", dependencies: ["CRedcore"]),
    ]
)
