//! Building the Curator peer: compiles `tests/support/java/CuratorTool.java` once per change
//! into `CARGO_TARGET_TMPDIR/curator-tool`, with a CDS archive for faster JVM start-up.
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::repo_path;
use super::tools::run_tool;

/// JVM flags of every CuratorTool run.
pub const JVM_FLAGS: &[&str] = &[
    "-XX:+UseSerialGC",
    // C1 only: these JVMs live for a second or two, and start faster without C2.
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xmx256m",
];

/// The compiled CuratorTool: java executable, class path (tool jar + Curator jars) and, when
/// the JVM could make one, a class-data-sharing archive that halves its start-up time.
pub struct CuratorToolBuild {
    pub java: PathBuf,
    pub classpath: String,
    pub archive: Option<PathBuf>,
}

/// Jars CuratorTool needs at compile and run time, from Debian's `libcurator-*-java`,
/// `libzookeeper-java`, `libguava-java`, `libjackson2-*-java` and `libslf4j-java`.
/// (Their manifests' `Class-Path` would pull most of them in; listing them keeps it explicit.)
pub const CURATOR_JARS: &[&str] = &[
    "curator-x-discovery.jar",
    "curator-recipes.jar",
    "curator-framework.jar",
    "curator-client.jar",
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "guava.jar",
    "jackson-databind.jar",
    "jackson-core.jar",
    "jackson-annotations.jar",
    "slf4j-api.jar",
    // Silences SLF4J's "no binding" warning and the ZooKeeper client's logging.
    "slf4j-nop.jar",
];

/// Compiles `tests/support/java/CuratorTool.java` with `javac` into a jar, and dumps a CDS
/// archive from a `--warmup` run, when the source (or the jar list) changed since the last
/// build. A file lock makes concurrent test processes build it once; the result is cached for
/// the whole process.
pub fn curator_tool() -> &'static CuratorToolBuild {
    static BUILD: OnceLock<CuratorToolBuild> = OnceLock::new();
    BUILD.get_or_init(|| build_curator_tool().unwrap_or_else(|e| panic!("{e}")))
}

fn build_curator_tool() -> Result<CuratorToolBuild, String> {
    let jar_dir = std::env::var_os("ZKSTATE_ZK_JAR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java"));
    let mut jars = Vec::new();
    for jar in CURATOR_JARS {
        let path = jar_dir.join(jar);
        if !path.is_file() {
            return Err(format!(
                "missing {}: run scripts/install-deps (apt-get install -y zookeeper \
                 libcurator-framework-java libcurator-recipes-java libcurator-discovery-java)",
                path.display()
            ));
        }
        jars.push(path.display().to_string());
    }
    let jars = jars.join(":");
    let java_home = std::env::var_os("JAVA_HOME").map(PathBuf::from);
    let jdk_tool = |name: &str| match &java_home {
        Some(home) if home.join("bin").join(name).is_file() => home.join("bin").join(name),
        _ => PathBuf::from(name),
    };
    let java = std::env::var_os("ZKSTATE_JAVA")
        .map(PathBuf::from)
        .unwrap_or_else(|| jdk_tool("java"));

    let source = repo_path("tests/support/java/CuratorTool.java");
    let text =
        fs::read_to_string(&source).map_err(|e| format!("read {}: {e}", source.display()))?;
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("curator-tool");
    let tool_jar = cache.join("CuratorTool.jar");
    let archive = cache.join("CuratorTool.jsa");
    let stamp_file = cache.join("stamp");
    let stamp = format!("{}\n{jars}\n{text}", java.display());
    let classpath = format!("{}:{jars}", tool_jar.display());
    fs::create_dir_all(&cache).map_err(|e| format!("create {}: {e}", cache.display()))?;

    let lock = File::create(cache.join("lock")).map_err(|e| format!("create lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", cache.display()))?;
    let fresh = fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) && tool_jar.is_file();
    if !fresh {
        let classes = cache.join("classes");
        let _ = fs::remove_file(&stamp_file);
        let _ = fs::remove_file(&archive);
        let _ = fs::remove_dir_all(&classes);
        fs::create_dir_all(&classes).map_err(|e| format!("create {}: {e}", classes.display()))?;
        let mut javac = Command::new(jdk_tool("javac"));
        javac
            .args(["-encoding", "UTF-8", "-Xlint:all,-path", "-d"])
            .arg(&classes)
            .args(["-cp", &jars])
            .arg(&source);
        checked(javac, "javac CuratorTool.java")?;
        // CDS archives only class path entries that are jars, hence the jar.
        let mut jar = Command::new(jdk_tool("jar"));
        jar.arg("cf")
            .arg(&tool_jar)
            .arg("-C")
            .arg(&classes)
            .arg(".");
        checked(jar, "jar CuratorTool.jar")?;
        let mut warmup = Command::new(&java);
        warmup
            .args(JVM_FLAGS)
            .arg(format!("-XX:ArchiveClassesAtExit={}", archive.display()))
            .args([
                "-Xlog:disable",
                "-cp",
                &classpath,
                "CuratorTool",
                "--warmup",
            ]);
        if checked(warmup, "CuratorTool --warmup").is_err() {
            // Only slower without it.
            let _ = fs::remove_file(&archive);
        }
        fs::write(&stamp_file, &stamp).map_err(|e| format!("write stamp: {e}"))?;
    }
    drop(lock);
    Ok(CuratorToolBuild {
        java,
        classpath,
        archive: archive.is_file().then_some(archive),
    })
}

fn checked(cmd: Command, what: &str) -> Result<(), String> {
    let out = run_tool(cmd, what);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}); is a JDK installed (scripts/install-deps)?\n{}{}",
            out.status, out.stdout, out.stderr
        ))
    }
}
