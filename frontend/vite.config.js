// Builds the viewer into dist/, which Django serves as static files under STATIC_URL + "viewer/"
// (settings.VIEWER_BUNDLE_DIR). The page reads dist/manifest.json to find the entry script.
import { defineConfig } from 'vite';

export default defineConfig({
  // Relative: chunks, workers and codec .wasm files are found next to the module that asks for
  // them, whatever STATIC_URL is.
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    manifest: 'manifest.json', // not .vite/manifest.json: collectstatic skips dot folders
    target: 'es2022',
    sourcemap: false,
    minify: process.env.VIEWER_MINIFY !== '0',
    chunkSizeWarningLimit: 8192, // one viewer bundle (Cornerstone3D + vtk.js), loaded once per session
    rollupOptions: {
      input: 'src/main.js',
    },
  },
  worker: {
    format: 'es', // the DICOM image loader's decode worker is an ES module
  },
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
});
