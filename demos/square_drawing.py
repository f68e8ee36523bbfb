"""The --draw window of the square detector: draw a shape with the mouse, see the verdict.

Only the window lives here. The grid and its strokes are DrawingGrid (in
square_shapes.py), which joins successive mouse positions with a line so that
a fast stroke has no gaps, and the verdict comes from the classify function
passed in (square_detector.classify_image): both are tested without a display.
tkinter is imported only when the window opens, so importing this module never
needs it.
"""

from demos.square_shapes import DrawingGrid
from utils import InputError

CELL_PIXELS = 14  # screen pixels per grid cell: 32 cells make a 448-pixel canvas
INK, PAPER, GRID_LINES = "black", "white", "#e4e4e4"
PROMPT = "Draw a shape; release the button to see the verdict."
# The verdict line keeps this width in characters whatever it says: a label sized to its text
# would shrink the window after the first verdict ("square (p=0.97)" is shorter than the
# prompt) and move the canvas under the mouse.
VERDICT_WIDTH = len(PROMPT)


class DisplayUnavailable(InputError):
    """The window cannot open: no tkinter, or no display to open it on (a one-line error, not a bug)."""


def open_window(load_model, classify, grid_size=32):
    """Open the drawing window and run it until it is closed.

    load_model() is called once the window has opened (so that a missing
    display is reported first); classify(model, image) -> (name, probability)
    gives the verdict shown each time the mouse button is released.
    Raises DisplayUnavailable, with a one-line message, when there is no window to open.
    """
    try:
        import tkinter
    except ImportError:
        raise DisplayUnavailable("--draw needs tkinter, which this Python does not have "
                                 "(on Debian or Ubuntu: apt-get install python3-tk)") from None
    try:
        root = tkinter.Tk()
    except tkinter.TclError as error:
        reason = str(error).replace("\n", " ")
        raise DisplayUnavailable(f"--draw needs a display to open its window on, and there is none "
                                 f"({reason})") from None
    try:
        model = load_model()
    except BaseException:
        root.destroy()
        raise
    DrawingWindow(root, tkinter, lambda image: classify(model, image), grid_size)
    root.mainloop()


class DrawingWindow:
    """A canvas of grid_size x grid_size cells, a verdict line and a Clear button."""

    def __init__(self, root, tkinter, classify, grid_size):
        self.classify = classify
        self.grid = DrawingGrid(grid_size)
        self.painted = {}  # (column, row) -> the canvas rectangle drawn for that cell
        side = grid_size * CELL_PIXELS
        root.title("Square or not?")
        root.resizable(False, False)
        self.canvas = tkinter.Canvas(root, width=side, height=side, background=PAPER,
                                     highlightthickness=0, cursor="pencil")
        self.canvas.pack(padx=8, pady=8)
        for i in range(1, grid_size):  # faint lines show where the cells are
            self.canvas.create_line(i * CELL_PIXELS, 0, i * CELL_PIXELS, side, fill=GRID_LINES)
            self.canvas.create_line(0, i * CELL_PIXELS, side, i * CELL_PIXELS, fill=GRID_LINES)
        self.verdict = tkinter.StringVar(value=PROMPT)
        tkinter.Label(root, textvariable=self.verdict, font=("TkDefaultFont", 14), width=VERDICT_WIDTH,
                      anchor="center").pack(pady=(0, 4))
        tkinter.Button(root, text="Clear", command=self.clear).pack(pady=(0, 8))
        self.canvas.bind("<ButtonPress-1>", self.press)
        self.canvas.bind("<B1-Motion>", self.move)
        self.canvas.bind("<ButtonRelease-1>", self.release)

    def _cell_position(self, event):
        # canvas pixels -> cell coordinates; DrawingGrid takes floats and finds the cell
        return event.x / CELL_PIXELS, event.y / CELL_PIXELS

    def press(self, event):
        self.grid.begin_stroke(*self._cell_position(event))
        self._paint_new_cells()

    def move(self, event):
        self.grid.stroke_to(*self._cell_position(event))
        self._paint_new_cells()

    def release(self, event):
        self.grid.stroke_to(*self._cell_position(event))
        self.grid.end_stroke()
        self._paint_new_cells()
        name, probability = self.classify(self.grid.image)
        self.verdict.set(f"{name} (p={probability:.2f})"[:VERDICT_WIDTH])

    def clear(self):
        self.grid.clear()
        for item in self.painted.values():
            self.canvas.delete(item)
        self.painted.clear()
        self.verdict.set(PROMPT)

    def _paint_new_cells(self):
        """Draw every cell that is on in the grid but not yet on the canvas."""
        for row, values in enumerate(self.grid.image):
            for column, value in enumerate(values):
                if value and (column, row) not in self.painted:
                    x, y = column * CELL_PIXELS, row * CELL_PIXELS
                    self.painted[column, row] = self.canvas.create_rectangle(
                        x, y, x + CELL_PIXELS, y + CELL_PIXELS, fill=INK, outline=INK)
