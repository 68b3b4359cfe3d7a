//! The HTML report as a person sees it: rendered by headless Chromium (Debian's `chromium`, which
//! ci/install-deps.sh installs), its screenshot checked for the legend's swatches and the grids'
//! coloured cells, and the DOM Chromium built checked for the legend and the cells' links.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::render;
use crate::report::fixtures::mixed_run;

const CHROMIUM: &str = "/usr/bin/chromium";
const SIZE: (usize, usize) = (1280, 1600);
/// A hung browser fails the test instead of blocking the suite.
const BROWSER_LIMIT: Duration = Duration::from_secs(180);

/// The fills of report.css: (class, colour, regions of that colour in the grids of the fixed
/// run: one per probe, two probes in one cell are split by a line, and the cell of no probe).
const FILLS: [(&str, [u8; 3], usize); 5] = [
    ("pass", [0xa6, 0xe3, 0xb0], 6),
    ("fail", [0xf5, 0xa3, 0xa3], 5),
    ("unjudged", [0xff, 0xd6, 0x66], 2),
    ("not-run", [0xc8, 0xc8, 0xd0], 0),
    ("none", [0xe4, 0xe4, 0xe4], 1),
];

/// The report of the fixed run in a temporary directory, and the browser that renders it.
struct Page {
    dir: tempfile::TempDir,
    html: PathBuf,
}

impl Page {
    /// `None`, after saying why, when Chromium is not installed.
    fn of_fixed_run() -> Option<Page> {
        if !Path::new(CHROMIUM).exists() {
            println!("skipped: chromium is not installed (ci/install-deps.sh installs it)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let html = dir.path().join("report.html");
        std::fs::write(&html, render(&mixed_run())).unwrap();
        Some(Page { dir, html })
    }

    /// Runs headless Chromium on the page with `args`; returns what it printed on stdout.
    fn chromium(&self, args: &[String]) -> String {
        let stdout = self.dir.path().join("stdout");
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ])
            .args([
                "--no-first-run",
                "--hide-scrollbars",
                "--force-color-profile=srgb",
            ])
            .arg("--force-device-scale-factor=1")
            .arg(format!(
                "--user-data-dir={}",
                self.dir.path().join("profile").display()
            ))
            .args(args)
            .arg(format!("file://{}", self.html.display()))
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(self.dir.path().join("stderr")).unwrap())
            .spawn()
            .expect("chromium starts");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > BROWSER_LIMIT {
                let _ = child.kill();
                panic!("chromium did not finish in {BROWSER_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stderr = std::fs::read_to_string(self.dir.path().join("stderr")).unwrap();
        assert!(status.success(), "chromium failed ({status}):\n{stderr}");
        std::fs::read_to_string(stdout).unwrap()
    }

    fn screenshot(&self) -> Image {
        let png = self.dir.path().join("screenshot.png");
        self.chromium(&[
            format!("--screenshot={}", png.display()),
            format!("--window-size={},{}", SIZE.0, SIZE.1),
        ]);
        Image::decode(&png)
    }
}

/// An RGB image.
struct Image {
    width: usize,
    height: usize,
    pixels: Vec<[u8; 3]>,
}

/// The bounding box of a connected region of one colour.
#[derive(Debug)]
struct Region {
    width: usize,
    height: usize,
}

impl Image {
    fn decode(path: &Path) -> Image {
        let file = std::io::BufReader::new(File::open(path).unwrap());
        let mut decoder = png::Decoder::new(file);
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buffer).unwrap();
        let channels = info.color_type.samples();
        assert!(channels >= 3, "a colour screenshot: {:?}", info.color_type);
        let pixels = buffer[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Image {
            width: info.width as usize,
            height: info.height as usize,
            pixels,
        }
    }

    /// The 4-connected regions of pixels of `colour` (within a rounding error).
    fn regions(&self, colour: [u8; 3]) -> Vec<Region> {
        let close = |p: [u8; 3]| (0..3).all(|c| p[c].abs_diff(colour[c]) <= 2);
        let mut seen = vec![false; self.pixels.len()];
        let mut regions = Vec::new();
        for start in 0..self.pixels.len() {
            if seen[start] || !close(self.pixels[start]) {
                continue;
            }
            seen[start] = true;
            let (mut left, mut top, mut right, mut bottom) = (usize::MAX, usize::MAX, 0, 0);
            let mut stack = vec![start];
            while let Some(at) = stack.pop() {
                let (x, y) = (at % self.width, at / self.width);
                (left, top, right, bottom) = (left.min(x), top.min(y), right.max(x), bottom.max(y));
                let mut next = Vec::with_capacity(4);
                if x > 0 {
                    next.push(at - 1);
                }
                if x + 1 < self.width {
                    next.push(at + 1);
                }
                if y > 0 {
                    next.push(at - self.width);
                }
                if y + 1 < self.height {
                    next.push(at + self.width);
                }
                for n in next {
                    if !seen[n] && close(self.pixels[n]) {
                        seen[n] = true;
                        stack.push(n);
                    }
                }
            }
            regions.push(Region {
                width: right - left + 1,
                height: bottom - top + 1,
            });
        }
        regions
    }
}

#[test]
fn the_rendered_report_shows_the_legend_and_a_coloured_cell_per_grid_cell() {
    let Some(page) = Page::of_fixed_run() else {
        return;
    };
    let image = page.screenshot();
    assert_eq!((image.width, image.height), SIZE);
    for (class, colour, cells) in FILLS {
        let regions = image.regions(colour);
        // A swatch is 28x18 CSS pixels inside its border; a cell at least 64 wide, a line high.
        let swatches = regions
            .iter()
            .filter(|r| (26..=30).contains(&r.width) && (16..=20).contains(&r.height))
            .count();
        let grid_cells = regions
            .iter()
            .filter(|r| r.width >= 40 && r.height >= 24)
            .count();
        assert_eq!(swatches, 1, "legend swatch of {class}: {regions:?}");
        assert_eq!(grid_cells, cells, "grid cells of {class}: {regions:?}");
    }
}

#[test]
fn the_rendered_report_has_the_legend_and_cells_that_link_to_their_evidence() {
    let Some(page) = Page::of_fixed_run() else {
        return;
    };
    let dom = page.chromium(&["--dump-dom".to_owned()]);
    assert!(dom.contains("<ul class=\"legend\">"), "{dom}");
    for text in ["met its expectation", "could not be judged", "no probe"] {
        assert!(dom.contains(text), "{text} in\n{dom}");
    }
    assert!(dom.contains("<table class=\"grid\">"), "{dom}");
    assert!(dom.contains("href=\"#probe-1\""), "{dom}");
    assert!(
        dom.contains("<section class=\"probe fail\" id=\"probe-1\">"),
        "{dom}"
    );
}
