//! The OpenStreetMap PBF file format, decoded from any `std::io::Read`: blocks, their zlib compression, and the nodes and ways inside them (relations are skipped).
//!
//! A file is a sequence of blocks, each a 4-byte big-endian length, a
//! `BlobHeader` message of that length naming the block's type and size,
//! then a `Blob` holding the (usually zlib-compressed) payload: one
//! `HeaderBlock` first, then `PrimitiveBlock`s of nodes, ways and
//! relations (see the OSM wiki page "PBF Format" and `osmformat.proto`).
//!
//! Hand-written rather than generated: the format needs only a few
//! messages, and decoding them here keeps every length checked against
//! what is left of its buffer and against the format's own limits (a
//! header of at most 64 KiB, a block of at most 32 MiB), so damaged or
//! hostile input ends in a [`GeoError::Osm`] naming the byte where the
//! damaged block starts, never in a panic or an unbounded allocation.

use std::io::{ErrorKind, Read};

use crate::{GeoError, LatLng};

/// The largest `BlobHeader` the format allows.
const MAX_HEADER_BYTES: u32 = 64 * 1024;
/// The largest `Blob`, compressed or not, the format allows.
const MAX_BLOB_BYTES: u32 = 32 * 1024 * 1024;

/// The features a file may require that this reader understands; a file
/// requiring another one (e.g. history) must be refused, says the format.
const SUPPORTED_FEATURES: &[&str] = &["OsmSchema-V0.6", "DenseNodes"];

/// The tags of one element, borrowed from its block's string table.
#[derive(Debug, Clone, Default)]
pub struct Tags<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Tags<'a> {
    /// The value of `key`, if the element has it.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// True when the element has no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (key, value) pair, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.0.iter().copied()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Tags<'a> {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// What the decoder hands over, element by element.
pub(super) trait Visitor {
    fn node(&mut self, id: i64, at: LatLng, tags: &Tags<'_>);
    fn way(&mut self, id: i64, refs: &[i64], tags: &Tags<'_>);
}

/// Counts of what a file held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PbfCounts {
    /// Blocks read, the header block included.
    pub blocks: u64,
    /// Bytes read: the whole file.
    pub bytes: u64,
    /// Nodes decoded.
    pub nodes: u64,
    /// Ways decoded.
    pub ways: u64,
    /// Relations seen and skipped.
    pub relations: u64,
}

/// Decodes every block of `input`, calling `progress` with the bytes read
/// so far after each block.
pub(super) fn decode(
    mut input: impl Read,
    visitor: &mut dyn Visitor,
    progress: &mut dyn FnMut(u64),
) -> Result<PbfCounts, GeoError> {
    let mut counts = PbfCounts::default();
    let mut offset = 0u64;
    loop {
        let start = offset;
        let damaged = |reason: String| GeoError::Osm { offset: start, reason };
        let mut len = [0u8; 4];
        match read_full(&mut input, &mut len).map_err(|e| damaged(format!("could not read: {e}")))? {
            0 if counts.blocks == 0 => return Err(damaged("the file is empty".into())),
            0 => break,
            4 => {}
            _ => return Err(damaged("the file ends inside a block length (truncated?)".into())),
        }
        let header_len = u32::from_be_bytes(len);
        if header_len == 0 || header_len > MAX_HEADER_BYTES {
            return Err(damaged(format!(
                "a block header of {header_len} bytes is outside the format's 1..=65536; \
                 not an OpenStreetMap PBF file, or a damaged one"
            )));
        }
        let header = read_exact(&mut input, header_len, "block header").map_err(damaged)?;
        let (kind, size) = blob_header(&header).map_err(damaged)?;
        if size > MAX_BLOB_BYTES {
            return Err(damaged(format!("a block of {size} bytes is larger than the format's 32 MiB")));
        }
        let blob = read_exact(&mut input, size, "block").map_err(damaged)?;
        offset += 4 + u64::from(header_len) + u64::from(size);
        let payload = unpack(&blob).map_err(damaged)?;
        match (kind.as_str(), counts.blocks) {
            ("OSMHeader", 0) => header_block(&payload).map_err(damaged)?,
            (_, 0) => {
                return Err(damaged(format!("the first block is {kind:?}, not \"OSMHeader\"; not an OSM PBF file")));
            }
            ("OSMHeader", _) => return Err(damaged("a second \"OSMHeader\" block".into())),
            ("OSMData", _) => primitive_block(&payload, visitor, &mut counts).map_err(damaged)?,
            // The format says readers skip block types they do not know.
            _ => {}
        }
        counts.blocks += 1;
        counts.bytes = offset;
        progress(offset);
    }
    Ok(counts)
}

/// Fills `buf` as far as the input goes; the number of bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_exact(input: &mut impl Read, len: u32, what: &str) -> Result<Vec<u8>, String> {
    let mut buf = vec![0; len as usize];
    let got = read_full(input, &mut buf).map_err(|e| format!("could not read: {e}"))?;
    if got < buf.len() {
        return Err(format!("the file ends {got} bytes into a {what} of {len} bytes (truncated?)"));
    }
    Ok(buf)
}

/// The block's type and the size of the blob after it.
fn blob_header(buf: &[u8]) -> Result<(String, u32), String> {
    let (mut kind, mut size) = (None, None);
    let mut m = Message::new(buf);
    while let Some((field, value)) = m.next()? {
        match (field, value) {
            (1, Value::Bytes(b)) => kind = Some(text(b)?.to_owned()),
            (3, Value::Varint(v)) => {
                size = Some(u32::try_from(v).map_err(|_| format!("block size {v} is out of range"))?);
            }
            _ => {}
        }
    }
    match (kind, size) {
        (Some(k), Some(s)) => Ok((k, s)),
        _ => Err("a block header without its type or size".into()),
    }
}

/// The payload of a blob: raw, or zlib-inflated to its declared size.
fn unpack(buf: &[u8]) -> Result<Vec<u8>, String> {
    let (mut raw, mut raw_size, mut zlib) = (None, None, None);
    let mut m = Message::new(buf);
    while let Some((field, value)) = m.next()? {
        match (field, value) {
            (1, Value::Bytes(b)) => raw = Some(b),
            (2, Value::Varint(v)) => raw_size = Some(v),
            (3, Value::Bytes(b)) => zlib = Some(b),
            (4, _) => return Err("the block is LZMA-compressed; only raw and zlib blocks are supported".into()),
            (5, _) => return Err("the block is bzip2-compressed; only raw and zlib blocks are supported".into()),
            (6, _) => return Err("the block is LZ4-compressed; only raw and zlib blocks are supported".into()),
            (7, _) => return Err("the block is ZSTD-compressed; only raw and zlib blocks are supported".into()),
            _ => {}
        }
    }
    match (raw, zlib) {
        (Some(raw), None) => Ok(raw.to_vec()),
        (None, Some(zlib)) => {
            let declared = raw_size.ok_or("a compressed block without its uncompressed size")?;
            if declared > u64::from(MAX_BLOB_BYTES) {
                return Err(format!("a block inflating to {declared} bytes is larger than the format's 32 MiB"));
            }
            let out = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(zlib, declared as usize)
                .map_err(|e| format!("the compressed block is damaged: {e}"))?;
            if out.len() as u64 != declared {
                return Err(format!("the block inflates to {} bytes, not the {declared} declared", out.len()));
            }
            Ok(out)
        }
        _ => Err("a block with no data, or with both raw and compressed data".into()),
    }
}

/// Checks that the file needs nothing this reader lacks.
fn header_block(buf: &[u8]) -> Result<(), String> {
    let mut m = Message::new(buf);
    while let Some((field, value)) = m.next()? {
        if let (4, Value::Bytes(b)) = (field, value) {
            let feature = text(b)?;
            if !SUPPORTED_FEATURES.contains(&feature) {
                return Err(format!("the file requires the feature {feature:?}, which this reader does not support"));
            }
        }
    }
    Ok(())
}

/// Where a block's coordinates are: `degrees = 1e-9 * (offset + granularity * value)`.
#[derive(Clone, Copy)]
struct Grid {
    granularity: i64,
    lat_offset: i64,
    lon_offset: i64,
}

impl Grid {
    fn at(self, id: i64, lat: i64, lon: i64) -> Result<LatLng, String> {
        let deg = |offset: i64, v: i64| {
            self.granularity.checked_mul(v).and_then(|x| x.checked_add(offset)).map(|nano| nano as f64 * 1e-9)
        };
        match (deg(self.lat_offset, lat), deg(self.lon_offset, lon)) {
            (Some(lat), Some(lon)) => LatLng::new(lat, lon).map_err(|e| format!("node {id}: {e}")),
            _ => Err(format!("node {id}: coordinates overflow")),
        }
    }
}

fn primitive_block(buf: &[u8], visitor: &mut dyn Visitor, counts: &mut PbfCounts) -> Result<(), String> {
    let mut strings = Vec::new();
    let mut groups = Vec::new();
    let mut grid = Grid { granularity: 100, lat_offset: 0, lon_offset: 0 };
    let mut m = Message::new(buf);
    while let Some((field, value)) = m.next()? {
        match (field, value) {
            (1, Value::Bytes(b)) => {
                let mut table = Message::new(b);
                while let Some((f, v)) = table.next()? {
                    if let (1, Value::Bytes(s)) = (f, v) {
                        strings.push(text(s)?);
                    }
                }
            }
            (2, Value::Bytes(b)) => groups.push(b),
            (17, Value::Varint(v)) => grid.granularity = v as i64,
            (19, Value::Varint(v)) => grid.lat_offset = v as i64,
            (20, Value::Varint(v)) => grid.lon_offset = v as i64,
            _ => {}
        }
    }
    if grid.granularity <= 0 {
        return Err(format!("granularity {} must be positive", grid.granularity));
    }
    let mut refs = Vec::new();
    let mut keys = Vec::new();
    let mut vals = Vec::new();
    for group in groups {
        let mut g = Message::new(group);
        while let Some((field, value)) = g.next()? {
            match (field, value) {
                (1, Value::Bytes(b)) => {
                    let (mut id, mut lat, mut lon) = (0, 0, 0);
                    keys.clear();
                    vals.clear();
                    let mut node = Message::new(b);
                    while let Some((f, v)) = node.next()? {
                        match (f, v) {
                            (1, Value::Varint(x)) => id = zigzag(x),
                            (2, v) => unpack_varints(v, &mut keys)?,
                            (3, v) => unpack_varints(v, &mut vals)?,
                            (8, Value::Varint(x)) => lat = zigzag(x),
                            (9, Value::Varint(x)) => lon = zigzag(x),
                            _ => {}
                        }
                    }
                    if keys.len() != vals.len() {
                        return Err(format!("node {id} has {} tag keys but {} values", keys.len(), vals.len()));
                    }
                    let tags =
                        keys.iter().zip(&vals).map(|(k, v)| tag(&strings, *k, *v)).collect::<Result<Tags<'_>, _>>()?;
                    visitor.node(id, grid.at(id, lat, lon)?, &tags);
                    counts.nodes += 1;
                }
                (2, Value::Bytes(b)) => counts.nodes += dense_nodes(b, grid, &strings, visitor)?,
                (3, Value::Bytes(b)) => {
                    let mut id = 0;
                    keys.clear();
                    vals.clear();
                    refs.clear();
                    let mut way = Message::new(b);
                    while let Some((f, v)) = way.next()? {
                        match (f, v) {
                            (1, Value::Varint(x)) => id = x as i64,
                            (2, v) => unpack_varints(v, &mut keys)?,
                            (3, v) => unpack_varints(v, &mut vals)?,
                            (8, v) => unpack_varints(v, &mut refs)?,
                            _ => {}
                        }
                    }
                    if keys.len() != vals.len() {
                        return Err(format!("way {id} has {} tag keys but {} values", keys.len(), vals.len()));
                    }
                    let tags =
                        keys.iter().zip(&vals).map(|(k, v)| tag(&strings, *k, *v)).collect::<Result<Tags<'_>, _>>()?;
                    let nodes = undelta(&refs).ok_or_else(|| format!("way {id}: node ids overflow"))?;
                    visitor.way(id, &nodes, &tags);
                    counts.ways += 1;
                }
                (4, Value::Bytes(_)) => counts.relations += 1,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Decodes a `DenseNodes` group: ids and coordinates delta-coded, every
/// node's tags in one list as key, value, …, 0.
fn dense_nodes(buf: &[u8], grid: Grid, strings: &[&str], visitor: &mut dyn Visitor) -> Result<u64, String> {
    let (mut ids, mut lats, mut lons, mut keys_vals) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut m = Message::new(buf);
    while let Some((field, value)) = m.next()? {
        match field {
            1 => unpack_varints(value, &mut ids)?,
            8 => unpack_varints(value, &mut lats)?,
            9 => unpack_varints(value, &mut lons)?,
            10 => unpack_varints(value, &mut keys_vals)?,
            _ => {}
        }
    }
    if ids.len() != lats.len() || ids.len() != lons.len() {
        return Err(format!("dense nodes with {} ids, {} latitudes, {} longitudes", ids.len(), lats.len(), lons.len()));
    }
    let overflow = || "dense node ids or coordinates overflow".to_owned();
    let ids = undelta(&ids).ok_or_else(overflow)?;
    let lats = undelta(&lats).ok_or_else(overflow)?;
    let lons = undelta(&lons).ok_or_else(overflow)?;
    let mut kv = keys_vals.iter().copied();
    for ((&id, &lat), &lon) in ids.iter().zip(&lats).zip(&lons) {
        let mut tags = Tags::default();
        // An empty list means no node of the group has tags.
        if !keys_vals.is_empty() {
            loop {
                match kv.next() {
                    Some(0) => break,
                    Some(k) => {
                        let v = kv.next().ok_or_else(|| format!("node {id}: a tag key without its value"))?;
                        tags.0.push(tag(strings, k, v)?);
                    }
                    None => return Err(format!("node {id}: the tag list ends early")),
                }
            }
        }
        visitor.node(id, grid.at(id, lat, lon)?, &tags);
    }
    Ok(ids.len() as u64)
}

/// A (key, value) pair from the indexes of its strings in the block's table.
fn tag<'s>(strings: &[&'s str], key: u64, val: u64) -> Result<(&'s str, &'s str), String> {
    let get = |i: u64| {
        usize::try_from(i).ok().and_then(|i| strings.get(i).copied()).ok_or_else(|| {
            format!("a tag names string {i}, but the block's string table has {} strings", strings.len())
        })
    };
    Ok((get(key)?, get(val)?))
}

/// Running sums of zigzag-coded deltas; `None` on overflow.
fn undelta(raw: &[u64]) -> Option<Vec<i64>> {
    let mut acc = 0i64;
    raw.iter()
        .map(|&d| {
            acc = acc.checked_add(zigzag(d))?;
            Some(acc)
        })
        .collect()
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "a string that is not UTF-8".into())
}

/// A repeated integer field, packed (one length-delimited run) or not.
fn unpack_varints(value: Value<'_>, out: &mut Vec<u64>) -> Result<(), String> {
    match value {
        Value::Varint(v) => out.push(v),
        Value::Bytes(b) => {
            let mut c = Message::new(b);
            while !c.done() {
                out.push(c.varint()?);
            }
        }
        Value::Fixed => return Err("a fixed-width value where integers were expected".into()),
    }
    Ok(())
}

/// One field's value as protobuf's wire format carries it.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A 32- or 64-bit fixed value; none of the fields read here has one.
    Fixed,
}

/// A protobuf message being read field by field.
struct Message<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Message<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or("a number runs past the end of its message")?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number longer than 10 bytes".into())
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], String> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| format!("a field of {len} bytes runs past the end of its message"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next field number and value, or `None` at the end.
    fn next(&mut self) -> Result<Option<(u32, Value<'a>)>, String> {
        if self.done() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| format!("field number {} is out of range", key >> 3))?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed
            }
            2 => {
                let len = self.varint()?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed
            }
            t => return Err(format!("wire type {t} is not used by the format (damaged data)")),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a clear test failure")]

    use super::*;

    #[test]
    fn zigzag_and_deltas_decode_as_the_format_says() {
        assert_eq!([0, 1, 2, 3, 4].map(zigzag), [0, -1, 1, -2, 2]);
        assert_eq!(undelta(&[4, 1, 6]).unwrap(), [2, 1, 4]);
        assert_eq!(undelta(&[u64::MAX - 1, u64::MAX - 1]), None, "two huge deltas overflow instead of wrapping");
    }

    #[test]
    fn a_message_refuses_lengths_past_its_end() {
        // Field 1, length-delimited, claiming 100 bytes of a 3-byte message.
        let mut m = Message::new(&[0x0a, 100, 1]);
        assert!(m.next().unwrap_err().contains("past the end"));
        let mut m = Message::new(&[0xff; 12]);
        assert!(m.next().is_err());
        assert!(Message::new(&[0x0b]).next().unwrap_err().contains("wire type 3"));
    }

    struct Ignore;
    impl Visitor for Ignore {
        fn node(&mut self, _: i64, _: LatLng, _: &Tags<'_>) {}
        fn way(&mut self, _: i64, _: &[i64], _: &Tags<'_>) {}
    }

    /// The inflated data blocks of a real file.
    fn data_blocks() -> Vec<Vec<u8>> {
        let file: &[u8] = include_bytes!("../../tests/data/osm/kotka-karhula.osm.pbf");
        let mut blocks = Vec::new();
        let mut rest = file;
        while rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let (kind, size) = blob_header(&rest[4..4 + len]).unwrap();
            let blob = &rest[4 + len..4 + len + size as usize];
            if kind == "OSMData" {
                blocks.push(unpack(blob).unwrap());
            }
            rest = &rest[4 + len + size as usize..];
        }
        blocks
    }

    /// Damage inside the compressed data mostly fails zlib's checksum, so
    /// the block decoder is also fed damaged *inflated* blocks directly:
    /// any answer will do but a panic.
    #[test]
    fn damaged_inflated_blocks_never_panic() {
        for block in data_blocks() {
            let mut counts = PbfCounts::default();
            primitive_block(&block, &mut Ignore, &mut counts).unwrap();
            assert!(counts.nodes + counts.ways > 0);
            let step = (block.len() / 60).max(1);
            for at in (0..block.len()).step_by(step) {
                for flip in [0x01, 0xff] {
                    let mut damaged = block.clone();
                    damaged[at] ^= flip;
                    let _ = primitive_block(&damaged, &mut Ignore, &mut PbfCounts::default());
                }
                let _ = primitive_block(&block[..at], &mut Ignore, &mut PbfCounts::default());
            }
        }
    }
}
