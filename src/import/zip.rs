//! Reading the CSV files inside a zip archive, as Mailchimp hands out an
//! audience export: one archive holding the subscribed, unsubscribed and
//! cleaned members.
//!
//! Only what such an archive needs: the end-of-central-directory record,
//! the central directory, and entries either stored or deflated. Each entry
//! is streamed from the file through the inflater and checked against its
//! CRC-32 when it ends, so a million-row export inside an archive costs no
//! more memory than the same file unpacked. ZIP64 and encrypted archives
//! are refused with what to do instead.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The first bytes of a zip archive (a local file header).
pub const MAGIC: [u8; 4] = *b"PK\x03\x04";

const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const DIRECTORY_ENTRY: u32 = 0x0201_4b50;
const LOCAL_HEADER: u32 = 0x0403_4b50;
/// The end record is 22 bytes, followed by a comment of up to 65,535.
const END_MAX: u64 = 22 + 0xFFFF;

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("cannot read the archive: {0}")]
    Io(#[from] io::Error),
    #[error("it is not a zip archive that can be read ({0}); unzip it and import the CSV files")]
    Damaged(&'static str),
    #[error(
        "it is a ZIP64 archive, which cannot be read directly; unzip it and import the CSV files"
    )]
    Zip64,
    #[error("`{0}` in it is encrypted; unzip it with its password and import the CSV files")]
    Encrypted(String),
    #[error(
        "`{0}` in it is compressed with method {1}, which cannot be read; unzip it and import the CSV files"
    )]
    Method(String, u16),
    #[error(
        "it holds no CSV file (found: {0}); a Mailchimp export holds `subscribed_members_export_….csv` and its siblings"
    )]
    NoCsv(String),
}

/// A CSV file inside an archive, found in its central directory.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    deflated: bool,
    crc32: u32,
    compressed: u64,
    size: u64,
    local_header: u64,
}

/// The CSV files of the archive at `path`, in the archive's order; other
/// files (folders, macOS's `__MACOSX/` copies) are passed over.
pub fn csv_entries(path: &Path) -> Result<Vec<Entry>, ZipError> {
    let mut file = File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(END_MAX);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0; tail_len as usize];
    file.read_exact(&mut tail)?;
    let end = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == END_OF_DIRECTORY)
        .ok_or(ZipError::Damaged("no end of central directory"))?;
    let end = &tail[end..];
    let count = u16_at(end, 10);
    let directory_size = u32_at(end, 12);
    let directory_at = u32_at(end, 16);
    if count == 0xFFFF || directory_size == 0xFFFF_FFFF || directory_at == 0xFFFF_FFFF {
        return Err(ZipError::Zip64);
    }
    if u64::from(directory_at) + u64::from(directory_size) > len {
        return Err(ZipError::Damaged("the central directory is past the end"));
    }
    file.seek(SeekFrom::Start(directory_at.into()))?;
    let mut directory = vec![0; directory_size as usize];
    file.read_exact(&mut directory)?;

    let mut entries = Vec::new();
    let mut others = Vec::new();
    let mut at = 0;
    for _ in 0..count {
        let header = directory
            .get(at..at + 46)
            .ok_or(ZipError::Damaged("the central directory is cut short"))?;
        if u32_at(header, 0) != DIRECTORY_ENTRY {
            return Err(ZipError::Damaged("a central directory entry is damaged"));
        }
        let flags = u16_at(header, 8);
        let method = u16_at(header, 10);
        let (name_len, extra_len, comment_len) = (
            usize::from(u16_at(header, 28)),
            usize::from(u16_at(header, 30)),
            usize::from(u16_at(header, 32)),
        );
        let name = directory
            .get(at + 46..at + 46 + name_len)
            .ok_or(ZipError::Damaged("an entry's name is cut short"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let entry = Entry {
            deflated: method == 8,
            crc32: u32_at(header, 16),
            compressed: u32_at(header, 20).into(),
            size: u32_at(header, 24).into(),
            local_header: u32_at(header, 42).into(),
            name,
        };
        at += 46 + name_len + extra_len + comment_len;
        let is_csv = entry.name.to_ascii_lowercase().ends_with(".csv")
            && !entry.name.starts_with("__MACOSX/");
        if !is_csv {
            if !entry.name.ends_with('/') {
                others.push(entry.name);
            }
            continue;
        }
        if entry.compressed == 0xFFFF_FFFF || entry.size == 0xFFFF_FFFF {
            return Err(ZipError::Zip64);
        }
        if flags & 1 != 0 {
            return Err(ZipError::Encrypted(entry.name));
        }
        if method != 0 && method != 8 {
            return Err(ZipError::Method(entry.name, method));
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        let found = if others.is_empty() {
            "nothing".to_string()
        } else {
            others
                .iter()
                .take(5)
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(ZipError::NoCsv(found));
    }
    Ok(entries)
}

/// A streaming reader of one entry's contents, checked against its CRC-32
/// and size when it ends.
pub fn open_entry(path: &Path, entry: &Entry) -> Result<Box<dyn Read>, ZipError> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(entry.local_header))?;
    let mut header = [0; 30];
    file.read_exact(&mut header)?;
    if u32_at(&header, 0) != LOCAL_HEADER {
        return Err(ZipError::Damaged("an entry's local header is damaged"));
    }
    let skip = u64::from(u16_at(&header, 26)) + u64::from(u16_at(&header, 28));
    file.seek(SeekFrom::Current(skip as i64))?;
    let raw = BufReader::with_capacity(256 * 1024, file).take(entry.compressed);
    let contents: Box<dyn Read> = if entry.deflated {
        Box::new(flate2::read::DeflateDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    Ok(Box::new(Checked {
        inner: contents,
        hasher: crc32fast::Hasher::new(),
        read: 0,
        entry: entry.clone(),
    }))
}

/// Passes an entry's bytes through, and fails the read that reaches its end
/// when they are not the bytes the archive recorded.
struct Checked {
    inner: Box<dyn Read>,
    hasher: crc32fast::Hasher,
    read: u64,
    entry: Entry,
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if n == 0 || self.read > self.entry.size {
            let crc = self.hasher.clone().finalize();
            if self.read != self.entry.size || crc != self.entry.crc32 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "`{}` in the archive is damaged (its contents do not match its checksum); download the export again",
                        self.entry.name
                    ),
                ));
            }
        }
        Ok(n)
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/mailchimp_export.zip")
    }

    fn contents(path: &Path, entry: &Entry) -> io::Result<String> {
        let mut s = String::new();
        open_entry(path, entry).unwrap().read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn stored_and_deflated_entries_read_as_the_files_they_hold() {
        let path = fixture();
        let entries = csv_entries(&path).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cleaned_members_export_4f1c2a.csv",
                "subscribed_members_export_4f1c2a.csv",
                "unsubscribed_members_export_4f1c2a.csv",
            ]
        );
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/mailchimp_export");
        for entry in &entries {
            assert_eq!(
                contents(&path, entry).unwrap(),
                std::fs::read_to_string(dir.join(&entry.name)).unwrap(),
                "{}",
                entry.name
            );
        }
    }

    /// Where the first central directory entry and the end record start.
    fn directory(bytes: &[u8]) -> (usize, usize) {
        let find = |sig: u32| {
            (0..bytes.len() - 4)
                .rev()
                .find(|&i| u32_at(bytes, i) == sig)
                .unwrap()
        };
        let end = find(END_OF_DIRECTORY);
        (u32_at(bytes, end + 16) as usize, end)
    }

    #[test]
    fn what_cannot_be_read_directly_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let original = std::fs::read(fixture()).unwrap();
        let (first, end) = directory(&original);
        type Change = fn(&mut Vec<u8>, usize, usize);
        let cases: [(&str, Change, &str); 4] = [
            (
                "encrypted",
                |b, first, _| b[first + 8] |= 1,
                "`cleaned_members_export_4f1c2a.csv` in it is encrypted",
            ),
            (
                "another method",
                |b, first, _| b[first + 10] = 14,
                "compressed with method 14",
            ),
            (
                "zip64",
                |b, _, end| b[end + 10..end + 12].copy_from_slice(&[0xFF, 0xFF]),
                "ZIP64",
            ),
            (
                "no csv",
                |b, first, end| {
                    for i in first..=end - 4 {
                        if &b[i..i + 4] == b".csv" {
                            b[i..i + 4].copy_from_slice(b".txt");
                        }
                    }
                },
                "holds no CSV file (found: `cleaned_members_export_4f1c2a.txt`",
            ),
        ];
        for (what, change, says) in cases {
            let mut bytes = original.clone();
            change(&mut bytes, first, end);
            let path = dir.path().join("archive.zip");
            std::fs::write(&path, &bytes).unwrap();
            let err = csv_entries(&path).unwrap_err().to_string();
            assert!(err.contains(says), "{what}: {err}");
            assert!(
                err.contains("unzip") || err.contains("Mailchimp export holds"),
                "{what} says what to do: {err}"
            );
        }
    }

    #[test]
    fn a_damaged_entry_fails_at_its_end_and_a_damaged_archive_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture()).unwrap();
        // The first entry is stored: flip a byte of its contents.
        let at = 30 + "cleaned_members_export_4f1c2a.csv".len() + 300;
        bytes[at] ^= 0x20;
        let damaged = dir.path().join("damaged.zip");
        std::fs::write(&damaged, &bytes).unwrap();
        let entries = csv_entries(&damaged).unwrap();
        let err = contents(&damaged, &entries[0]).unwrap_err();
        assert!(err.to_string().contains("is damaged"), "{err}");

        let cases: [(&str, &[u8]); 2] = [
            ("not a zip", b"email\nada@example.com\n"),
            ("cut short", &bytes[..bytes.len() - 30]),
        ];
        for (what, bytes) in cases {
            let path = dir.path().join("bad.zip");
            std::fs::write(&path, bytes).unwrap();
            let err = csv_entries(&path).unwrap_err();
            assert!(matches!(err, ZipError::Damaged(_)), "{what}: {err}");
        }
    }
}
