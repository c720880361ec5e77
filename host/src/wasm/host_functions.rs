//! The functions the contract gives a core module (import module `env`):
//! `log`, and AssemblyScript's `abort`. Both write into the batch's log.

use wasmtime::{Caller, Extern, Linker};

use super::sandbox::StoreState;
use crate::batch::{LogLevel, MAX_LOG_LINE_BYTES};

/// The `level` of `log` that marks the document the guest starts on: its
/// `ptr` is the document's place in the batch.
const DOCUMENT_MARK: i32 = -1;

/// Adds `env.log` and `env.abort` to a core module's linker.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "log", log)?;
    linker.func_wrap("env", "abort", abort)?;
    Ok(())
}

/// `log(level, ptr, len)`: one line of UTF-8 at `ptr..ptr+len`.
fn log(mut caller: Caller<'_, StoreState>, level: i32, ptr: i32, len: i32) -> wasmtime::Result<()> {
    if level == DOCUMENT_MARK {
        if let Ok(mut log) = caller.data().log.lock() {
            log.set_document(ptr as u32 as usize);
        }
        return Ok(());
    }
    // Only what a line may keep is read: a guest passing 2 GiB costs nothing.
    let keep = (len as u32 as usize).min(MAX_LOG_LINE_BYTES + 1);
    let bytes = read(&mut caller, ptr, keep).ok_or_else(|| {
        wasmtime::Error::msg(format!(
            "the guest called log with a message at {ptr:#x} ({len} bytes) outside its memory"
        ))
    })?;
    if let Ok(mut log) = caller.data().log.lock() {
        log.push(LogLevel::from_number(level), &bytes);
    }
    Ok(())
}

/// AssemblyScript's `abort(msg, file, line, col)`: the message goes into the
/// log (level error) and the trap.
fn abort(
    mut caller: Caller<'_, StoreState>,
    msg: i32,
    file: i32,
    line: i32,
    col: i32,
) -> wasmtime::Result<()> {
    let msg = as_string(&mut caller, msg);
    let file = as_string(&mut caller, file);
    let at = match file {
        Some(f) => format!("{f}:{line}:{col}"),
        None => format!("line {line}, column {col}"),
    };
    let text = match msg {
        Some(m) => format!("abort: {m} at {at}"),
        None => format!("abort at {at}"),
    };
    if let Ok(mut log) = caller.data().log.lock() {
        log.push(LogLevel::Error, text.as_bytes());
    }
    Err(wasmtime::Error::msg(format!("the guest called {text}")))
}

/// `len` bytes of the guest's memory at `ptr`, if they are in it.
fn read(caller: &mut Caller<'_, StoreState>, ptr: i32, len: usize) -> Option<Vec<u8>> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return None;
    };
    let start = ptr as u32 as usize;
    memory
        .data(&*caller)
        .get(start..start.checked_add(len)?)
        .map(<[u8]>::to_vec)
}

/// An AssemblyScript string (UTF-16, its byte length in the 4 bytes before
/// it); `None` for a null pointer or one outside memory.
fn as_string(caller: &mut Caller<'_, StoreState>, ptr: i32) -> Option<String> {
    if ptr == 0 {
        return None;
    }
    let header = read(caller, ptr.checked_sub(4)?, 4)?;
    let bytes = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let units = read(caller, ptr, bytes.min(2 * MAX_LOG_LINE_BYTES))?;
    let utf16: Vec<u16> = units
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&utf16))
}
