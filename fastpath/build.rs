//! Builds the in-process runtime (`runtime/runtime.rs`, freestanding `no_std` Rust) into a
//! flat image linked at its fixed address, and the addresses of its entry points.

use std::path::PathBuf;
use std::process::Command;

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("building the runtime: cannot run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "building the runtime: {what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn symbol(nm: &str, name: &str) -> u64 {
    nm.lines()
        .find_map(|l| {
            let mut parts = l.split_whitespace();
            let (addr, _, sym) = (parts.next()?, parts.next()?, parts.next()?);
            (sym == name).then(|| u64::from_str_radix(addr, 16).ok())?
        })
        .unwrap_or_else(|| panic!("building the runtime: symbol {name} not found"))
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let src = dir.join("runtime/runtime.rs");
    let script = dir.join("runtime/link.ld");
    let modules = [
        dir.join("runtime/gate.rs"),
        dir.join("runtime/ready.rs"),
        dir.join("runtime/shapes.rs"),
        dir.join("runtime/vector.rs"),
    ];
    for f in [
        &src,
        &script,
        &dir.join("src/layout.rs"),
        &modules[0],
        &modules[1],
    ] {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let obj = out.join("runtime.o");
    let elf = out.join("runtime.elf");
    let bin = out.join("runtime.bin");
    run(
        Command::new(&rustc)
            .args([
                "--edition=2021",
                "--crate-type=lib",
                "--crate-name=ftrun_runtime",
                "--emit=obj",
                "--target=x86_64-unknown-linux-gnu",
                "-Cpanic=abort",
                "-Copt-level=2",
                "-Crelocation-model=static",
                "-Ccode-model=small",
                "-Cdebuginfo=0",
                "-Ccodegen-units=1",
            // No vector registers: the program's are left as they are, so the entry need
            // not save them (a saved FXSAVE area costs more than the rest of a call).
            "-Ctarget-feature=-mmx,-sse,-sse2,-sse3,-ssse3,-sse4.1,-sse4.2,-avx,-avx2,+soft-float",
                "-o",
            ])
            .arg(&obj)
            .arg(&src),
        "rustc",
    );
    run(
        Command::new("ld")
            .args([
                "-static",
                "-nostdlib",
                "--gc-sections",
                "-e",
                "ftrun_entry",
                "-T",
            ])
            .arg(&script)
            .arg("-o")
            .arg(&elf)
            .arg(&obj),
        "ld",
    );
    run(
        Command::new("objcopy")
            .args(["-O", "binary"])
            .arg(&elf)
            .arg(&bin),
        "objcopy",
    );
    let nm = Command::new("nm").arg(&elf).output().expect("nm");
    let nm = String::from_utf8_lossy(&nm.stdout).into_owned();
    let syms = format!(
        "/// Address of the runtime's entry, which stubs call.\n\
         pub const ENTRY: u64 = {:#x};\n\
         /// Address of the runtime's one untraced `syscall` instruction.\n\
         pub const UNTRACED_INSN: u64 = {:#x};\n\
         /// Address of the runner of the tracer's batches of calls.\n\
         pub const BATCH: u64 = {:#x};\n\
         /// Address of the `int3` a batch ends at.\n\
         pub const BATCH_DONE: u64 = {:#x};\n",
        symbol(&nm, "ftrun_entry"),
        symbol(&nm, "ftrun_untraced_insn"),
        symbol(&nm, "ftrun_batch"),
        symbol(&nm, "ftrun_batch_done"),
    );
    std::fs::write(out.join("runtime_syms.rs"), syms).unwrap();
}
