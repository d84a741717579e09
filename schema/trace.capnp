# The ftrun trace format: the Cap'n Proto encoding of the values in src/model.rs.
#
# A trace file (DIR/events) is a file start followed by frames (see src/frame.rs):
# one Header frame, Chunk frames holding consecutive events, and a Footer frame
# written by a recorder that finished. Each frame payload is one message whose
# root is Header, Chunk or Footer.
#
# After editing this file run schema/regen.sh: the generated src/trace_capnp.rs
# is committed, and a test checks that it matches this file.

@0xe92a2fb8ec04c35c;

enum TickSource {
  none @0;
  pmu @1;
}

struct Rlimit {
  resource @0 :UInt32;
  soft @1 :UInt64;
  hard @2 :UInt64;
}

# What the recording's parent handed down through exec and the program may observe.
struct Inherited {
  # Bit N-1 for signal N.
  ignoredSignals @0 :UInt64;
  blockedSignals @1 :UInt64;
  umask @2 :UInt32;
}

struct Header {
  formatVersion @0 :UInt32;
  recorderVersion @1 :Text;
  argv @2 :List(Data);
  env @3 :List(Data);
  cwd @4 :Data;
  exe @5 :Data;
  kernelRelease @6 :Text;
  cpuVendor @7 :Text;
  cpuModel @8 :Text;
  cpuidSignature @9 :List(UInt32);
  tickSource @10 :TickSource;
  tickEvent @11 :UInt64;
  rlimits @12 :List(Rlimit);
  startTimeNs @13 :UInt64;
  # Absent in traces written before it was recorded.
  inherited @14 :Inherited;
}

enum SyscallMode {
  emulated @0;
  executed @1;
  refused @2;
  # Run inside the process by the in-process runtime; result and memory effects logged from
  # its ring (no registers: the runtime saw the call, not a ptrace stop).
  buffered @3;
}

struct MemWrite {
  addr @0 :UInt64;
  data @1 :Data;
}

struct FileIdentity {
  path @0 :Data;
  dev @1 :UInt64;
  ino @2 :UInt64;
  size @3 :UInt64;
  mtimeNs @4 :Int64;
}

struct FileMapping {
  storedAs @0 :Text;
  file @1 :FileIdentity;
  offset @2 :UInt64;
  length @3 :UInt64;
}

enum Echo {
  none @0;
  stdout @1;
  stderr @2;
}

struct SyscallEvent {
  number @0 :UInt64;
  args @1 :List(UInt64);   # exactly 6
  result @2 :Int64;
  mode @3 :SyscallMode;
  writes @4 :List(MemWrite);
  rip @5 :UInt64;
  regsHash @6 :UInt64;
  outputHash @7 :UInt64;
  echo @8 :Echo;
  mapping :union {
    noMapping @9 :Void;
    fileMapping @10 :FileMapping;
  }
}

# Copies kept in files/ of what the kernel read to start an image: the executable, its
# ELF interpreter and the #! scripts that led to it. Each is a whole file, named in files/
# by the hash of its content (a trace outside $FTRUN_DIR may only name it until it is
# packed); `file.path` is the path as the kernel opened it (as given to execve or in a #!
# line; for the interpreter, where it was mapped from: the kernel opens what the
# executable's PT_INTERP names).
struct ExecImage {
  exe @0 :FileMapping;
  # Absent for a static executable.
  interp @1 :FileMapping;
  # In the order the kernel read them: the file given to execve first.
  scripts @2 :List(FileMapping);
}

struct ExecEvent {
  exe @0 :FileIdentity;
  atRandomAddr @1 :UInt64;
  atRandom @2 :Data;
  rsp @3 :UInt64;
  # Absent in traces written before the image was kept.
  image @4 :ExecImage;
}

struct RdtscEvent {
  value @0 :UInt64;
  aux @1 :UInt32;
  isRdtscp @2 :Bool;
  rip @3 :UInt64;
}

struct Landmark {
  rip @0 :UInt64;
  regsHash @1 :UInt64;
  memHash @2 :UInt64;
}

struct SignalPlacement {
  union {
    synchronous @0 :Void;
    atSyscallExit @1 :Void;
    beforeSyscall @2 :Void;
    atLandmark @3 :Landmark;
  }
}

struct SignalEvent {
  signo @0 :UInt32;
  siginfo @1 :Data;
  placement @2 :SignalPlacement;
}

# Logged when a thread of a multi-threaded process enters a syscall: the thread stops
# running its own code here, and the others may run until its result (the syscall
# event, logged later) lets it go on.
struct SyscallEntry {
  number @0 :UInt64;
  rip @1 :UInt64;
}

# Where a thread computing without syscalls was preempted: the first pass through the
# landmark with its register and memory hashes; or, since those registers are all here,
# any pass whose memory already hashes the same (a loop counting in registers).
struct ForcedSwitch {
  landmark @0 :Landmark;
  regs @1 :List(UInt64);   # 27 words, user_regs_struct order
  fpregs @2 :Data;         # 512 bytes, the FXSAVE area
  # Memory words the loop changed between the two passes before, with their values at
  # this one, as (address, value) pairs: with the registers, what replay's in-process
  # filter compares at each pass (empty: the registers alone, or no filter).
  watchedWords @3 :List(UInt64);
  # The general-purpose registers that changed between those passes, one bit each in the
  # order rax rbx rcx rdx rsi rdi rbp rsp r8..r15: the filter checks one of them (or else
  # a watched word) before anything else.
  changedRegs @4 :UInt32;
  # The bytes of the instructions replay's filter replaces when they are several (the
  # first instructions of a loop's body, where no branch lands after the first), 0 for
  # one instruction.
  runLen @5 :UInt8;
  # Memory other threads' finished calls had written while this one computed, whose
  # results the log gives only after this switch, as (address, length) pairs: left out
  # of the memory hash and of the watched words (replay writes it later).
  unloggedWrites @6 :List(UInt64);
}

# A rewritten syscall site: the bytes written at the site and at the stub, and the stub page
# mapped first when it is new (0 if not).
struct SitePatch {
  site @0 :UInt64;
  siteBytes @1 :Data;
  stub @2 :UInt64;
  stubBytes @3 :Data;
  newStubPage @4 :UInt64;
}

struct ExitStatus {
  union {
    exited @0 :Int32;
    killed :group {
      signo @1 :Int32;
      coreDumped @2 :Bool;
    }
  }
}

struct Event {
  seq @0 :UInt64;
  tid @1 :UInt32;
  kind :union {
    syscall @2 :SyscallEvent;
    exec @3 :ExecEvent;
    rdtsc @4 :RdtscEvent;
    signal @5 :SignalEvent;
    exit @6 :ExitStatus;
    syscallEntry @7 :SyscallEntry;
    # The thread was preempted in a pure spin: at the first pass through the landmark
    # where the registers hash to regsHash and the next pass finds the same state.
    sched @8 :Landmark;
    # The thread was preempted in a loop whose state kept changing (it computed without
    # syscalls for long while others waited), at the state described.
    schedAtState @9 :ForcedSwitch;
    # The in-process runtime was mapped into the process (after an exec).
    runtimeMapped @10 :Void;
    # A syscall site was rewritten to jump to a stub of the runtime.
    sitePatched @11 :SitePatch;
    # Calls the thread ran in-process between two of its stops: `count` syscall events
    # of mode buffered, from this event's seq on, packed (see `schema/src/packed.rs`).
    # Readers get them as syscall events.
    bufferedCalls @12 :BufferedCalls;
  }
}

struct BufferedCalls {
  count @0 :UInt32;
  packed @1 :Data;
}

struct Chunk {
  firstSeq @0 :UInt64;
  events @1 :List(Event);
}

struct Footer {
  finishedCleanly @0 :Bool;
  eventCount @1 :UInt64;
  exit :union {
    notExited @2 :Void;
    exitStatus @3 :ExitStatus;
  }
}
